"""One deadline for a whole exchange (a probe, a webhook), and socket reads that honour it.

A socket timeout bounds one recv: a server sending a header line, a STARTTLS greeting line or a
body byte just inside it on every read stretches an exchange without limit. Here every read is
given only the time left, so the exchange ends at its deadline whatever the peer does.
"""

from __future__ import annotations

import io
import socket
import time


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left; TimeoutError once there are none."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError("the deadline passed")
        return left

    def fits(self, seconds: float) -> bool:
        """Whether something that may take `seconds` ends before the deadline if started now."""
        return time.monotonic() + seconds <= self.at


class _DeadlineRaw(io.RawIOBase):
    """Raw reads from a socket, each waiting at most until the deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self._sock.settimeout(self._deadline.remaining())
        return self._sock.recv_into(buffer)


def recv(sock: socket.socket, size: int, deadline: Deadline) -> bytes:
    """One recv that waits at most until the deadline."""
    sock.settimeout(deadline.remaining())
    return sock.recv(size)


class DeadlineSocket:
    """What http.client.HTTPResponse needs of a socket: makefile() whose reads honour the
    deadline (closing the file leaves the socket open; its owner closes it)."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self.sock = sock
        self.deadline = deadline

    def makefile(self, mode: str = "rb", *args: object, **kwargs: object) -> io.BufferedReader:
        if mode != "rb":
            raise ValueError("only binary reading is supported")
        return io.BufferedReader(_DeadlineRaw(self.sock, self.deadline))
