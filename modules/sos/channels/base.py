"""One small interface for every channel: send a rendered message to one address.

A sender raises ChannelError saying whether retrying can help; the dispatcher owns retries.
Senders are plain Python (no ORM): the dispatcher hands them a Message and records the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class ChannelError(Exception):
    """A failed send. `permanent`: retrying cannot help; `retry_after`: seconds the peer asked;
    `configuration`: the channel's setup is at fault (credentials, sender, region), not the
    recipient's address, so the contact method is not marked as broken.

    The message is always one short line (`truncate`): it goes to the row, the event log and
    the logs as it is.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        configuration: bool = False,
    ) -> None:
        message = truncate(message, MESSAGE_LIMIT)
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after
        self.configuration = configuration

    def __repr__(self) -> str:
        kind = "permanent" if self.permanent else "transient"
        return f"ChannelError({self.message!r}, {kind}, retry_after={self.retry_after})"


@dataclass(frozen=True)
class Message:
    """What one delivery says, rendered once per send from the templates."""

    idempotency_key: str
    subject: str
    text: str
    html: str
    sms: str
    payload: dict[str, Any] = field(default_factory=dict)
    severity: str = "critical"
    priority: bool = False
    # The left part of the email Message-ID: the same on every retry of this send (email.py).
    mail_id: str = ""
    # Two-way replies: the email's Reply-To, a per-delivery address (inbound/mail.py); "" none.
    reply_to: str = ""


@dataclass(frozen=True)
class Target:
    kind: str
    address: str
    secret: str = ""


@dataclass(frozen=True)
class Sent:
    provider_message_id: str = ""


class Channel(Protocol):
    kind: str

    def send(self, target: Target, message: Message) -> Sent: ...

    def close(self) -> None: ...


MESSAGE_LIMIT = 300
BODY_LIMIT = 200
# RFC 9110: the client may retry these; every other 4xx means the request itself is wrong.
RETRYABLE_4XX = frozenset({408, 425, 429})


def truncate(text: str, limit: int = 500) -> str:
    """One line: whitespace (newlines, tabs) collapsed, control characters dropped, cut."""
    text = "".join(c for c in str(text) if c.isprintable() or c.isspace())
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_permanent_status(status: int) -> bool:
    """4xx but 408/425/429, and 501 (the peer does not implement it): retrying cannot help."""
    return (400 <= status < 500 and status not in RETRYABLE_4XX) or status == 501


def body_excerpt(body: bytes | str, content_type: str | None = None) -> str:
    """The first BODY_LIMIT characters of a plain or JSON error body, on one line; "" for an
    HTML page (an error page's markup says nothing to an operator and floods the log)."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in ("text/html", "application/xhtml+xml") or text.lstrip().startswith("<"):
        return ""
    return truncate(text, BODY_LIMIT)


def http_failure(
    status: int, reason: str = "", body: bytes | str = b"", content_type: str = ""
) -> str:
    """ "HTTP 404 Not Found", or "HTTP 400 Bad Request: {"error": "no such user"}"."""
    head = truncate(f"HTTP {status} {reason}".strip(), 80)
    excerpt = body_excerpt(body, content_type)
    return f"{head}: {excerpt}" if excerpt else head
