"""The API's exception handler: DRF's, plus outages (database, Redis, broker) answered 503 in
the API's error shape ``{"detail": ...}`` with ``Retry-After``, never Django's HTML 500."""

from __future__ import annotations

import logging

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.outages import RETRY_AFTER_SECONDS, outage_message

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is not None:
        return response
    message = outage_message(exc)
    if message is None:
        return None  # a bug: Django's 500 handling, with the traceback in the log
    request = context.get("request")
    logger.error("outage on %s %s", getattr(request, "method", "?"),
                 getattr(request, "path", "?"), exc_info=exc)
    return Response({"detail": message}, status=status.HTTP_503_SERVICE_UNAVAILABLE,
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
