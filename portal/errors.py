"""The one error type every module raises: a stable code, an HTTP status, a message, details.

Django-free, so engines (probes, channels, the face engine) raise it too. The API's exception
handler (`portal.api.exception_handler`) and the HTML helper (`portal.error_pages.error_page`)
turn it into an answer in one place each; nothing else translates errors.
"""

from __future__ import annotations

from typing import Any


class PortalError(Exception):
    """Subclasses set `code` and `status`; an instance may override either."""

    code = "error"
    status = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}

    def __str__(self) -> str:
        return self.message


class NotFound(PortalError):
    code = "not_found"
    status = 404


class PayloadTooLarge(PortalError):
    code = "payload_too_large"
    status = 413


class Unavailable(PortalError):
    code = "unavailable"
    status = 503


class DatabaseUnavailable(Unavailable):
    """The database refused or dropped the connection; the next request reconnects."""

    code = "database_unavailable"
    RETRY_AFTER_S = 5

    def __init__(self) -> None:
        super().__init__(
            "The database cannot be reached right now; try again shortly.",
            details={"retry_after_s": self.RETRY_AFTER_S},
        )


def envelope(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one shape of every API error: {"error": {"code", "message", "details"}}."""
    return {"error": {"code": code, "message": message, "details": details or {}}}
