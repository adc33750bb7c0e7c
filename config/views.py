"""Pages of the whole site: the health check and the home page that links each person to what
their study roles give them (worklist, reports, models, admin)."""

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from studies.models import Membership


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and compose health checks: the database and the cache
    (Redis when configured) answer."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    cache.set("health-check", "ok", timeout=10)
    if cache.get("health-check") != "ok":
        return JsonResponse({"status": "cache unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": connection.vendor})


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    memberships = (
        Membership.objects.filter(user=request.user).select_related("study").order_by("study")
    )
    return render(request, "home.html", {"memberships": memberships})
