"""One small interface for every channel: send a rendered message to one address.

A sender raises ChannelError saying whether retrying can help; the dispatcher owns retries.
Senders are plain Python (no ORM): the dispatcher hands them a Message and records the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class ChannelError(Exception):
    """A failed send. `permanent`: retrying cannot help; `retry_after`: seconds the peer asked."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after

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


def truncate(text: str, limit: int = 500) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
