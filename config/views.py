"""Pages of the whole site: the health check and the home page that links each person to what
their study roles give them (worklist, reports, models, admin)."""

import logging
import os
import secrets
import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache, caches
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from config.celery import app
from studies.models import Membership

logger = logging.getLogger(__name__)


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connection.vendor


def _check_cache() -> str:
    key = f"health-check-{secrets.token_hex(4)}"
    cache.set(key, "ok", timeout=10)
    if cache.get(key) != "ok":
        raise RuntimeError("a value written to the cache did not read back")
    cache.delete(key)
    return type(caches["default"]).__name__


def _check_broker() -> str:
    if app.conf.task_always_eager:
        return "inline (no broker: tasks run in the web process)"
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=2)
    return "connected"


def _check_storage() -> str:
    root = Path(settings.MEDIA_ROOT)
    root.mkdir(parents=True, exist_ok=True)  # made on first store anyway: missing is not down
    fd, name = tempfile.mkstemp(prefix=".health-", dir=root)
    try:
        os.write(fd, b"ok")
    finally:
        os.close(fd)
        os.unlink(name)
    return f"{root} writable"


CHECKS = {"database": _check_database, "cache": _check_cache, "broker": _check_broker,
          "storage": _check_storage}


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Readiness for load balancers and compose health checks: each dependency (database,
    cache, Celery broker, file storage) is tried; 200 when all answer, else 503 naming what is
    down (the other checks still run, so one outage does not hide another)."""
    checks: dict[str, dict] = {}
    for name, check in CHECKS.items():
        try:
            checks[name] = {"ok": True, "detail": check()}
        except Exception as exc:  # noqa: BLE001 - a dependency down is the answer, not an error
            # The reason goes to the log only: this page is public, and the error names hosts.
            logger.error("health check: %s is down", name, exc_info=exc)
            checks[name] = {"ok": False, "detail": f"unavailable ({type(exc).__name__})"}
    ok = all(c["ok"] for c in checks.values())
    body = {"status": "ok" if ok else "unavailable", "checks": checks}
    if checks["database"]["ok"]:
        body["database"] = checks["database"]["detail"]
    return JsonResponse(body, status=200 if ok else 503)


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    memberships = (
        Membership.objects.filter(user=request.user).select_related("study").order_by("study")
    )
    return render(request, "home.html", {"memberships": memberships})
