"""Outages: what counts as one (the database, Redis or the broker not answering) and the 503
that answers it, in the JSON shape of the API asked (issue 15 R4), never Django's HTML 500.

The REST API (``/api/v1/``) answers through its exception handler (``api/exceptions.py``) in
its own shape, ``{"detail": ...}``; :class:`OutageMiddleware` answers what a view raised, and
:func:`server_error` (``handler500``) what a middleware raised (the session or the user read
before the view): the reading API (``/api/...``) as ``{"error": {"code": "unavailable",
"message": ...}}``, pages with a short plain page. Each says which dependency is down and adds
``Retry-After``.
"""

from __future__ import annotations

import logging
import sys

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config.celery import QueueUnavailableError

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30


def outage_message(exc: BaseException) -> str | None:
    """What is down, for the user, when ``exc`` is an outage; ``None`` for any other error."""
    if isinstance(exc, QueueUnavailableError):
        return str(exc)
    if isinstance(exc, (BrokerError, RedisConnectionError, RedisTimeoutError)):
        return ("The task queue or cache (Redis) is unavailable; nothing was lost. "
                "Try again in a minute.")
    if isinstance(exc, (OperationalError, InterfaceError)) or (
        type(exc) is DatabaseError  # a bare DatabaseError: psycopg lost the server mid-query
    ):
        return "The database is unavailable; nothing was saved. Try again in a minute."
    return None


def outage_response(request: HttpRequest, message: str) -> HttpResponse:
    """The 503 for ``request``: JSON under ``/api/``, else a plain page."""
    if request.path.startswith("/api/v1/"):
        response = JsonResponse({"detail": message}, status=503)
    elif request.path == "/health/":  # its view did not run (a middleware met the outage)
        response = JsonResponse({"status": "unavailable", "detail": message}, status=503)
    elif request.path.startswith("/api/"):
        response = JsonResponse({"error": {"code": "unavailable", "message": message}},
                                status=503)
    else:
        response = HttpResponse(
            "<!doctype html><title>Unavailable</title><h1>Service unavailable</h1>"
            f"<p>{_escape(message)}</p>", status=503, content_type="text/html; charset=utf-8",
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _escape(text: str) -> str:
    from django.utils.html import escape

    return escape(text)


class OutageMiddleware:
    """Answer an outage raised by a view with a 503 (see the module's docstring)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        message = outage_message(exc)
        if message is None:
            return None
        logger.error("outage on %s %s", request.method, request.path, exc_info=exc)
        return outage_response(request, message)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: an outage that escaped every view (raised in a middleware) is a 503 like
    the others; anything else is Django's own 500 page."""
    from django.views.defaults import server_error as django_server_error

    message = outage_message(sys.exc_info()[1]) if sys.exc_info()[1] is not None else None
    if message is None:
        return django_server_error(request)
    return outage_response(request, message)
