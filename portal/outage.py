"""A database outage answers 503 and heals by itself.

When PostgreSQL restarts, fails over or the network drops, requests fail with OperationalError
or InterfaceError on a lost connection (`is_unavailable`). They answer 503 with Retry-After
(`database_unavailable` in the API's envelope), never 500; Django closes an unusable connection
when the request ends, so the next request connects afresh and nothing needs a restart. Other
database errors are bugs: they stay 500 and are logged with their traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from portal.errors import DatabaseUnavailable, envelope

logger = logging.getLogger("portal.outage")


def is_unavailable(exc: BaseException) -> bool:
    """Whether a database error means "cannot be reached right now" (the connection is lost or
    cannot be made, SQLite stayed locked past its busy timeout), not a bug to fix."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    if connection.vendor == "sqlite":
        return "locked" in str(exc)
    return connection.connection is None or bool(getattr(connection.connection, "closed", False))


def unavailable_response(request: HttpRequest) -> HttpResponse:
    error = DatabaseUnavailable()
    if request.path_info.startswith("/api/"):
        body = envelope(error.code, error.message, error.details)
        response: HttpResponse = JsonResponse(body, status=error.status)
    else:
        # Rendered without the request: its context (the user, the session) needs the database.
        context = {
            "retry_after_s": error.RETRY_AFTER_S,
            "safe_method": request.method in ("GET", "HEAD"),
        }
        response = HttpResponse(render_to_string("errors/503.html", context), status=error.status)
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
        if is_unavailable(exc):
            logger.warning("%s %s: database unavailable: %s", request.method, request.path, exc)
            return unavailable_response(request)
        return None
