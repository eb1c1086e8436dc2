"""Uploaded photos stay in memory: they must not touch the disk when they are not to be stored.

Django writes uploads above FILE_UPLOAD_MAX_MEMORY_SIZE to temporary files; for face photos
that would leave biometric data on disk (and in Lambda's /tmp) however briefly. Memory is
bounded anyway: RequestSizeLimitMiddleware refuses bodies above REQUEST_MAX_BYTES first.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt, csrf_protect


class InMemoryUploadHandler(MemoryFileUploadHandler):
    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: bytes,
        encoding: str | None = None,
    ) -> None:
        self.activated = True


def keep_uploads_in_memory(request: HttpRequest) -> None:
    request.upload_handlers = [InMemoryUploadHandler(request)]


def uploads_in_memory(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For HTML views: the CSRF check reads the body, so the handlers are set before it runs
    (the pattern Django's upload-handler documentation gives)."""
    protected = csrf_protect(view)

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST":
            keep_uploads_in_memory(request)
        return protected(request, *args, **kwargs)

    return wrapper
