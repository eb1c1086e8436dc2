"""The plain-text dialogues that upgrade an SMTP, IMAP or POP3 connection to TLS."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Literal, get_args

from portal.egress.deadline import Deadline, recv

Protocol = Literal["smtp", "imap", "pop3"]
PROTOCOLS: tuple[Protocol, ...] = get_args(Protocol)
DEFAULT_PORTS = {"smtp": 25, "imap": 143, "pop3": 110}
_MAX_RESPONSE = 64 * 1024
_EHLO_NAME = "netprobe.invalid"


class StartTlsError(Exception):
    """The server did not agree to upgrade (message says what it answered)."""


class _Lines:
    """Lines from the server; every recv and send is given only the time left."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buffer = b""
        self.total = 0

    def readline(self) -> str:
        while b"\n" not in self.buffer:
            chunk = recv(self.sock, 4096, self.deadline)
            if not chunk:
                raise StartTlsError("the server closed the connection")
            self.total += len(chunk)
            if self.total > _MAX_RESPONSE:
                raise StartTlsError("the server response is too long")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode("utf-8", "replace").rstrip("\r")

    def send(self, text: str) -> None:
        self.sock.settimeout(self.deadline.remaining())
        self.sock.sendall(text.encode("ascii") + b"\r\n")


def negotiate(sock: socket.socket, protocol: str, deadline: Deadline) -> dict[str, str]:
    """Run the dialogue on a connected socket; on return the next bytes are the TLS handshake.

    TimeoutError (an OSError) once the deadline passes."""
    lines = _Lines(sock, deadline)
    return _DIALOGUES[protocol](lines)


def _smtp_response(lines: _Lines) -> tuple[int, list[str]]:
    texts = []
    while True:
        line = lines.readline()
        if len(line) < 3 or not (line[:3].isascii() and line[:3].isdecimal()):
            raise StartTlsError(f"not an SMTP response: {line[:80]!r}")
        texts.append(line[4:])
        if line[3:4] != "-":
            return int(line[:3]), texts


def _smtp(lines: _Lines) -> dict[str, str]:
    code, greeting = _smtp_response(lines)
    if code != 220:
        raise StartTlsError(f"SMTP greeting {code} {greeting[0]}")
    lines.send(f"EHLO {_EHLO_NAME}")
    code, caps = _smtp_response(lines)
    if code != 250:
        raise StartTlsError(f"EHLO answered {code} {caps[0]}")
    if not any(c.upper().split(" ")[0] == "STARTTLS" for c in caps[1:]):
        raise StartTlsError("the SMTP server does not offer STARTTLS")
    lines.send("STARTTLS")
    code, reply = _smtp_response(lines)
    if code != 220:
        raise StartTlsError(f"STARTTLS answered {code} {reply[0]}")
    return {"banner": greeting[0]}


def _imap(lines: _Lines) -> dict[str, str]:
    greeting = lines.readline()
    if not greeting.upper().startswith("* OK"):
        raise StartTlsError(f"IMAP greeting {greeting[:80]!r}")
    lines.send("N1 STARTTLS")
    while True:
        line = lines.readline()
        if line.startswith("N1 "):
            break
    if not line.upper().startswith("N1 OK"):
        raise StartTlsError(f"STARTTLS answered {line[3:80]!r}")
    return {"banner": greeting[5:]}


def _pop3(lines: _Lines) -> dict[str, str]:
    greeting = lines.readline()
    if not greeting.startswith("+OK"):
        raise StartTlsError(f"POP3 greeting {greeting[:80]!r}")
    lines.send("STLS")
    reply = lines.readline()
    if not reply.startswith("+OK"):
        raise StartTlsError(f"STLS answered {reply[:80]!r}")
    return {"banner": greeting[4:]}


_DIALOGUES: dict[str, Callable[[_Lines], dict[str, str]]] = {
    "smtp": _smtp,
    "imap": _imap,
    "pop3": _pop3,
}
