"""API tokens in the admin: who holds one and when it expires, never the token nor its hash.

A token is made by its owner (/accounts/tokens/) or with ``manage.py create_api_token`` and
revoked by its owner; the admin only lists them (no links or actions: a row's key is the token's
hash). To cut someone off at once, deactivate the account or end the membership. Superusers only:
a study admin has no business with another person's credentials.
"""

from __future__ import annotations

from django.contrib import admin
from knox.models import AuthToken

admin.site.unregister(AuthToken)  # knox's own admin lists each token's digest


@admin.register(AuthToken)
class AuthTokenAdmin(admin.ModelAdmin):
    list_display = ["user", "created", "expiry"]
    list_display_links = None
    list_select_related = ["user"]
    search_fields = ["user__username"]
    actions = None

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
