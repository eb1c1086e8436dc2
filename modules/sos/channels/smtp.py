"""Django's SMTP email backend with one deadline per send.

smtplib's timeout bounds each socket operation, not an exchange: a server that answers its
greeting (or any reply) one byte at a time, each byte inside the timeout, holds a send for
ever, past its lease, and another worker sends the row again. Here every read and write of a
send waits at most until that send's deadline (portal.egress.deadline), whatever the peer does.
"""

from __future__ import annotations

import io
import smtplib
import socket
from typing import Any

from django.core.mail.backends.smtp import EmailBackend as DjangoSmtpBackend

from portal.egress.deadline import Deadline, _DeadlineRaw

DJANGO_SMTP = "django.core.mail.backends.smtp.EmailBackend"
PATH = "modules.sos.channels.smtp.EmailBackend"


class _DeadlineMixin:
    """Replaces smtplib's reader and writer with ones that honour `self.deadline`."""

    deadline: Deadline
    sock: Any
    file: Any

    def send(self, s: str | bytes) -> None:
        if self.sock is not None:
            self.sock.settimeout(self.deadline.remaining())
        super().send(s)  # type: ignore[misc]

    def getreply(self) -> tuple[int, bytes]:
        if self.file is None and self.sock is not None:
            self.file = io.BufferedReader(_DeadlineRaw(self.sock, self.deadline))
        return super().getreply()  # type: ignore[misc]


class DeadlineSMTP(_DeadlineMixin, smtplib.SMTP):
    def __init__(self, *args: Any, deadline_s: float, **kwargs: Any) -> None:
        self.deadline = Deadline(deadline_s)  # the greeting is read inside __init__
        super().__init__(*args, **kwargs)


class DeadlineSMTPSSL(_DeadlineMixin, smtplib.SMTP_SSL):
    def __init__(self, *args: Any, deadline_s: float, **kwargs: Any) -> None:
        self.deadline = Deadline(deadline_s)
        super().__init__(*args, **kwargs)


class EmailBackend(DjangoSmtpBackend):
    """`deadline_s`: the whole of one send, connecting included (default: the timeout)."""

    def __init__(self, *args: Any, deadline_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline_s = float(deadline_s or self.timeout or socket.getdefaulttimeout() or 30)

    @property
    def connection_class(self) -> Any:
        base = DeadlineSMTPSSL if self.use_ssl else DeadlineSMTP

        def build(*args: Any, **kwargs: Any) -> smtplib.SMTP:
            return base(*args, deadline_s=self.deadline_s, **kwargs)

        return build

    def restart_deadline(self) -> None:
        """Give the next send on this (kept) connection a whole deadline of its own."""
        if self.connection is not None:
            self.connection.deadline = Deadline(self.deadline_s)
