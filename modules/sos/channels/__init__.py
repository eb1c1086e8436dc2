"""Channel senders. `ChannelSet` builds them lazily, one per kind, for one dispatcher pass."""

from __future__ import annotations

import threading
from collections.abc import Callable

from modules.sos.channels.base import Channel, ChannelError, Message, Sent, Target

__all__ = ["Channel", "ChannelError", "ChannelSet", "Message", "Sent", "Target"]


class ChannelSet:
    """The senders of one dispatcher pass; thread-safe; `close()` releases their connections."""

    def __init__(self, factories: dict[str, Callable[[], Channel]]) -> None:
        self._factories = factories
        self._channels: dict[str, Channel] = {}
        self._lock = threading.Lock()
        # One lock per kind while it is built: building the SMS sender (boto3, a region check:
        # hundreds of ms) must not hold up the send threads of email and webhooks.
        self._building: dict[str, threading.Lock] = {}

    def get(self, kind: str) -> Channel:
        channel = self._channels.get(kind)
        if channel is not None:
            return channel
        with self._lock:
            building = self._building.setdefault(kind, threading.Lock())
        with building:
            channel = self._channels.get(kind)
            if channel is None:
                channel = self._build(kind)
                with self._lock:
                    self._channels[kind] = channel
            return channel

    def _build(self, kind: str) -> Channel:
        factory = self._factories.get(kind)
        if factory is None:
            raise ChannelError(
                f"No sender for channel {kind!r}", permanent=True, configuration=True
            )
        try:
            return factory()
        except ChannelError:
            raise
        except Exception as exc:
            # A sender that cannot even be built (a bad setting, a missing region) will not
            # build on the next attempt either.
            raise ChannelError(
                f"The {kind} channel is not configured: {type(exc).__name__}: {exc}",
                permanent=True,
                configuration=True,
            ) from exc

    def send(self, target: Target, message: Message) -> Sent:
        return self.get(target.kind).send(target, message)

    def close(self) -> None:
        with self._lock:
            channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            channel.close()

    def __enter__(self) -> ChannelSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
