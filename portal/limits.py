from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class RequestSizeLimitMiddleware:
    """Refuse a body larger than REQUEST_MAX_BYTES from its Content-Length, before reading it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.REQUEST_MAX_BYTES:
            if request.path_info.startswith("/api/"):
                # Imported here: DRF and drf-spectacular stay out of a cold start's /healthz.
                from portal.api import json_error

                response = json_error(
                    request,
                    413,
                    "payload_too_large",
                    f"The request body is {length} bytes; "
                    f"this server accepts at most {settings.REQUEST_MAX_BYTES}.",
                )
            else:
                response = render(request, "errors/413.html", status=413)
            return response
        return self.get_response(request)
