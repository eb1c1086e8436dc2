"""Error pages: JSON envelopes under /api/, HTML elsewhere, never a stack trace.

`error_page` is the one way an HTML view answers with a `PortalError`.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.csrf import csrf_failure as django_csrf_failure

from portal.api import json_error
from portal.errors import PortalError
from portal.outage import is_unavailable, unavailable_response


def _is_api(request: HttpRequest) -> bool:
    # path_info: behind API Gateway's stage prefix (SCRIPT_NAME=/dev) request.path is /dev/api/...
    return request.path_info.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return json_error(request, 404, "not_found", "No such endpoint or object.")
    return render(request, "errors/404.html", status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception) if exception and str(exception) else "You may not do this."
    if _is_api(request):
        return json_error(request, 403, "permission_denied", message)
    return render(request, "errors/403.html", {"message": message}, status=403)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if isinstance(exception, RequestDataTooBig):
        if _is_api(request):
            return json_error(request, 413, "payload_too_large", "The request body is too large.")
        return render(request, "errors/413.html", status=413)
    if _is_api(request):
        if isinstance(exception, DisallowedHost):
            return json_error(
                request, 400, "host_not_allowed", "This server does not answer for that host."
            )
        return json_error(request, 400, "bad_request", "The request could not be understood.")
    return render(request, "errors/400.html", status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    exc = sys.exc_info()[1]  # Django calls this inside its except block
    if exc is not None and is_unavailable(exc):
        return unavailable_response(request)
    if _is_api(request):
        return json_error(request, 500, "server_error", "Something went wrong on our side.")
    return render(request, "errors/500.html", status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if _is_api(request):
        return json_error(request, 403, "csrf_failed", f"CSRF check failed: {reason}")
    return django_csrf_failure(request, reason)


def error_page(
    request: HttpRequest,
    exc: PortalError,
    template: str,
    context: dict[str, Any] | None = None,
) -> HttpResponse:
    """Render `template` with the error as `error` (code, message, details), at its status."""
    return render(request, template, {**(context or {}), "error": exc}, status=exc.status)
