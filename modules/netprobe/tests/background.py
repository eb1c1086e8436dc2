"""Loopback test servers on daemon threads, usable as context managers."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Self


class Background:
    """Serves `_servers()` (the object itself by default) until stop() or the with-block ends."""

    def _servers(self) -> Sequence[socketserver.BaseServer]:
        return [self]  # type: ignore[list-item]

    def start(self) -> Self:
        for server in self._servers():
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        for server in self._servers():
            server.shutdown()
            server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
