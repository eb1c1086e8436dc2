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

    def get(self, kind: str) -> Channel:
        with self._lock:
            channel = self._channels.get(kind)
            if channel is None:
                factory = self._factories.get(kind)
                if factory is None:
                    raise ChannelError(f"No sender for channel {kind!r}", permanent=True)
                channel = self._channels[kind] = factory()
            return channel

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
