"""Django admin of study reports: read-only, for the record (reports are built from the
report page, cached by their inputs)."""

from __future__ import annotations

from django.contrib import admin

from reports.models import StudyReport


@admin.register(StudyReport)
class StudyReportAdmin(admin.ModelAdmin):
    list_display = [
        "id", "study", "status", "progress", "code_version", "created_at", "finished_at",
    ]
    list_filter = ["study", "status"]
    readonly_fields = [f.name for f in StudyReport._meta.fields]

    def has_add_permission(self, request):
        return False  # reports are built from the report page, cached by their inputs
