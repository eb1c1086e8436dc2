"""Loopback peers for the NetProbe tests (and the Django tests and the bench, later).

Each is a context manager that starts on a free port and stops on exit:
  LoopbackHTTPServer(host, tls=None)   http(s) paths listed in httpserver.py
  TestPKI(directory)                   root -> intermediate -> leaf; expired and self-signed leaves
  TcpListener(host)                    accepts and closes connections
  ClosedPort(host)                     a bound port that refuses connections (nothing listens)
  UnansweredPort(host)                 a port whose connection attempts time out (SYNs dropped)
  LoopbackDNSServer(host)              the netprobe.test zone over UDP and TCP
  StartTlsServer(protocol, tls)        smtp / imap / pop3 up to STARTTLS, then TLS
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Self

from .dnsserver import LoopbackDNSServer
from .httpserver import LoopbackHTTPServer
from .mailserver import StartTlsServer
from .pki import TestPKI

__all__ = [
    "ClosedPort",
    "LoopbackDNSServer",
    "LoopbackHTTPServer",
    "StartTlsServer",
    "TcpListener",
    "TestPKI",
    "UnansweredPort",
]


class _Closing:
    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        raise NotImplementedError


def _bound(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    return sock


def _target(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class TcpListener(_Closing):
    """Listens and closes every accepted connection; `accepted` counts them."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = _bound(host)
        self.sock.listen(64)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.target = _target(host, self.port)
        self.accepted = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue  # ECONNABORTED for a client that hung up first; closed when stopping
            self.accepted += 1
            conn.close()

    def stop(self) -> None:
        self._stopping = True
        # shutdown() wakes the accept() in the serving thread; close() alone may not.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(timeout=2)


class ClosedPort(_Closing):
    """Holds a port bound without listening: connecting gets a RST (refused), and no other
    process can take the port while the test runs."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = _bound(host)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.target = _target(host, self.port)

    def stop(self) -> None:
        self.sock.close()


class UnansweredPort(_Closing):
    """A listener with a full accept queue: the kernel drops further SYNs, so a connection
    attempt hangs until the client's timeout, like a firewalled host (no RST, no answer)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = _bound(host)
        self.sock.listen(0)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.target = _target(host, self.port)
        # listen(0) queues one connection; once it is taken the queue is full.
        self._filler = socket.create_connection((host, self.port), timeout=2)

    def stop(self) -> None:
        self._filler.close()
        self.sock.close()
