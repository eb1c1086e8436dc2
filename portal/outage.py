"""A database outage answers 503 and heals by itself.

When PostgreSQL restarts, fails over or the network drops, requests fail with OperationalError
or InterfaceError. They answer 503 with Retry-After (`database_unavailable` in the API's
envelope), never 500; Django closes an unusable connection when the request ends, so the next
request connects afresh and nothing needs a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from portal.errors import DatabaseUnavailable

logger = logging.getLogger("portal.outage")

DATABASE_ERRORS = (OperationalError, InterfaceError)


def unavailable_response(request: HttpRequest) -> HttpResponse:
    error = DatabaseUnavailable()
    if request.path_info.startswith("/api/"):
        body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
        response: HttpResponse = JsonResponse(body, status=error.status)
    else:
        # Rendered without the request: its context (the user, the session) needs the database.
        page = render_to_string("errors/503.html", {"retry_after_s": error.RETRY_AFTER_S})
        response = HttpResponse(page, status=error.status)
    response["Retry-After"] = str(error.RETRY_AFTER_S)
    return response


class DatabaseOutageMiddleware:
    """A database error raised by a view answers 503, with DEBUG on too. One raised by other
    middleware (saving the session) reaches `portal.error_pages.server_error`, which answers
    the same."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, DATABASE_ERRORS):
            logger.warning("%s %s: database unavailable: %s", request.method, request.path, exc)
            return unavailable_response(request)
        return None
