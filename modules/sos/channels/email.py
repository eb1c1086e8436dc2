"""Email through a Django email backend (SMTP, console, file, locmem) or Amazon SES (sesv2).

SMTP connections are kept per sender thread for the length of one dispatcher pass; every SMTP
send has one deadline for the whole exchange (smtp.py).

Message-ID: one per send of a delivery, `<sos-<delivery>-<round>.<digest>@<sender's domain>>`
(Message.mail_id), the same on every retry of that send, since a retry resends the same message
(RFC 5322 3.6.4) and mail software can then merge the copies a crash or a lost reply produced.
A reminder (the next round) is a new message with a new Message-ID: merged with the first, it
would never be seen. Amazon SES replaces any Message-ID with its own, so there the stable id
goes in `References`, which still threads the copies together, and `X-Portal-Delivery`.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import threading
import time
from email.utils import make_msgid, parseaddr
from typing import Any

from modules.sos.channels.aws import aws_client, classify_aws_error
from modules.sos.channels.base import ChannelError, Message, Sent, Target, truncate
from modules.sos.channels.smtp import DJANGO_SMTP
from modules.sos.channels.smtp import PATH as DEADLINE_SMTP

BACKENDS = {
    "smtp": DEADLINE_SMTP,
    "console": "django.core.mail.backends.console.EmailBackend",
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
}

# Refused for reasons of our account or setup, not of the address: retrying cannot help until
# someone fixes them, and they must not mark the recipient's contact method as broken.
_SERVER_SIDE = (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError)
_SESSION_REFUSED = (smtplib.SMTPConnectError, smtplib.SMTPHeloError, smtplib.SMTPDataError)


def classify_smtp_error(exc: BaseException) -> ChannelError:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()), (0, b""))
        return _by_code(code, reply, "recipient refused")
    if isinstance(exc, _SERVER_SIDE):
        code = getattr(exc, "smtp_code", 0)
        return ChannelError(
            f"SMTP server refused us: {_reply(exc)}",
            permanent=not 400 <= code < 500,
            configuration=True,
        )
    if isinstance(exc, smtplib.SMTPSenderRefused):
        error = _by_code(exc.smtp_code, exc.smtp_error, "sender refused")
        error.configuration = True
        return error
    if isinstance(exc, _SESSION_REFUSED):
        # The greeting, HELO or DATA refused: our server, our host or the message, never the
        # recipient's address, so the contact method is not marked as broken.
        error = _by_code(exc.smtp_code, exc.smtp_error, type(exc).__name__)
        error.configuration = True
        return error
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code, exc.smtp_error, type(exc).__name__)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return ChannelError(f"SMTP server disconnected: {exc}", permanent=False)
    if isinstance(exc, TimeoutError):
        return ChannelError("SMTP server timed out", permanent=False)
    if isinstance(exc, OSError):
        return ChannelError(f"SMTP connection failed: {exc}", permanent=False)
    if isinstance(exc, ValueError):  # a header or address Python refuses to put on the wire
        return ChannelError(f"Cannot build the email: {exc}", permanent=True)
    return ChannelError(f"SMTP error: {exc}", permanent=False)


def _reply(exc: BaseException) -> str:
    code = getattr(exc, "smtp_code", "")
    text = getattr(exc, "smtp_error", b"")
    text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return truncate(f"{code} {text}".strip() or str(exc), 300)


def _by_code(code: int, reply: bytes | str, what: str) -> ChannelError:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    message = truncate(f"SMTP {code} {text} ({what})", 300)
    # RFC 5321: 4yz is a transient negative completion, 5yz a permanent one.
    return ChannelError(message, permanent=500 <= code < 600)


def _msgid_domain(from_email: str) -> str:
    # make_msgid() without a domain calls socket.getfqdn(), which can block on DNS.
    local, at, domain = parseaddr(from_email)[1].rpartition("@")
    if not at or not local or not domain:
        return "portal.invalid"
    try:
        # A msg-id is ASCII only (RFC 5322); SES refuses a message with an IDN one for good.
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return "portal.invalid"
    return ascii_domain if re.fullmatch(r"[A-Za-z0-9.-]+", ascii_domain) else "portal.invalid"


def message_id(message: Message, from_email: str) -> str:
    """The stable Message-ID of this send (see the module's docstring)."""
    domain = _msgid_domain(from_email)
    if not message.mail_id:
        return make_msgid("sos", domain=domain)
    return f"<{message.mail_id}@{domain}>"


def build_email(target: Target, message: Message, from_email: str) -> Any:
    from django.core.mail import EmailMultiAlternatives

    headers = {
        "Message-ID": message_id(message, from_email),
        "X-Portal-Delivery": message.idempotency_key,
        "Auto-Submitted": "auto-generated",
    }
    if message.priority:
        headers.update({"X-Priority": "1", "Importance": "high"})
    email = EmailMultiAlternatives(
        message.subject,
        message.text,
        from_email,
        [target.address],
        headers=headers,
        reply_to=[message.reply_to] if message.reply_to else None,  # two-way replies
    )
    if message.html:
        email.attach_alternative(message.html, "text/html")
    return email


class DjangoEmailChannel:
    kind = "email"

    def __init__(self, *, backend: str, from_email: str, timeout: float = 30.0) -> None:
        backend = BACKENDS.get(backend, backend)
        self.backend = DEADLINE_SMTP if backend == DJANGO_SMTP else backend
        self.from_email = from_email
        self.timeout = timeout  # the whole of one SMTP send
        self._local = threading.local()
        self._open: list[Any] = []
        self._lock = threading.Lock()

    def _connection(self, deadline_s: float) -> tuple[Any, bool]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        from django.core.mail import get_connection

        extra = {"deadline_s": deadline_s} if self.backend == DEADLINE_SMTP else {}
        conn = get_connection(self.backend, fail_silently=False, **extra)
        conn.open()
        self._local.conn = conn
        with self._lock:
            self._open.append(conn)
        return conn, False

    @staticmethod
    def _alive(conn: Any) -> bool:
        """NOOP on a kept connection: one the server closed while idle fails here, before
        anything of the message was sent."""
        smtp = getattr(conn, "connection", None)
        if smtp is None:
            return True  # not SMTP (console, file, locmem)
        try:
            return smtp.noop()[0] == 250
        except (smtplib.SMTPException, OSError):
            return False

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                if conn in self._open:
                    self._open.remove(conn)
            # A broken connection is being thrown away: its close may fail too.
            with contextlib.suppress(Exception):
                conn.close()

    def send(self, target: Target, message: Message) -> Sent:
        email = build_email(target, message, self.from_email)
        started = time.monotonic()
        try:
            conn, reused = self._connection(self.timeout)
            if reused:
                if hasattr(conn, "restart_deadline"):
                    conn.restart_deadline()
                if not self._alive(conn):
                    # Closed while idle: a new connection, within what is left of this send's
                    # time (the lease covers one send, not two).
                    self._drop()
                    left = self.timeout - (time.monotonic() - started)
                    if left <= 0:
                        raise self._timed_out()
                    conn, _ = self._connection(left)
                    if hasattr(conn, "deadline_s"):
                        conn.deadline_s = self.timeout  # the next sends on it: a whole one
            # Never retried past this point: a server may drop the connection after it
            # accepted the final "." of DATA, and a retry would deliver the message twice.
            conn.send_messages([email])
            return Sent(provider_message_id=email.extra_headers["Message-ID"])
        except smtplib.SMTPRecipientsRefused as exc:
            raise classify_smtp_error(exc) from exc  # the connection is still good
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            self._drop()
            if isinstance(exc, TimeoutError) or time.monotonic() - started >= self.timeout:
                raise self._timed_out() from exc
            raise classify_smtp_error(exc) from exc

    def _timed_out(self) -> ChannelError:
        return ChannelError(f"SMTP server timed out after {self.timeout:g} s", permanent=False)

    def close(self) -> None:
        with self._lock:
            conns, self._open = self._open, []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()


class SesEmailChannel:
    """Amazon SES v2 `SendEmail`; botocore's own retries are off (the dispatcher retries)."""

    kind = "email"

    def __init__(
        self,
        *,
        from_email: str,
        region: str,
        timeout: float,
        configuration_set: str = "",
        endpoint_url: str | None = None,
    ) -> None:
        self.from_email = from_email
        self.configuration_set = configuration_set
        self._client = aws_client(
            "sesv2", region=region, timeout=timeout, endpoint_url=endpoint_url
        )

    def send(self, target: Target, message: Message) -> Sent:
        if not parseaddr(self.from_email)[1]:
            raise ChannelError(
                "No sender address for SES: set SOS_EMAIL_FROM", permanent=True, configuration=True
            )
        body: dict[str, Any] = {"Text": {"Data": message.text, "Charset": "UTF-8"}}
        if message.html:
            body["Html"] = {"Data": message.html, "Charset": "UTF-8"}
        kwargs: dict[str, Any] = {
            "FromEmailAddress": self.from_email,
            "Destination": {"ToAddresses": [target.address]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": message.subject, "Charset": "UTF-8"},
                    "Body": body,
                    "Headers": [
                        # SES replaces Message-ID: the stable id threads the copies instead.
                        {"Name": "References", "Value": message_id(message, self.from_email)},
                        {"Name": "X-Portal-Delivery", "Value": message.idempotency_key},
                        {"Name": "Auto-Submitted", "Value": "auto-generated"},
                    ],
                }
            },
            "EmailTags": [{"Name": "portal-delivery", "Value": message.idempotency_key}],
        }
        if self.configuration_set:
            kwargs["ConfigurationSetName"] = self.configuration_set
        if message.reply_to:  # two-way replies
            kwargs["ReplyToAddresses"] = [message.reply_to]
        try:
            response = self._client.send_email(**kwargs)
        except Exception as exc:
            raise classify_aws_error(exc) from exc
        return Sent(provider_message_id=response.get("MessageId", ""))

    def close(self) -> None:
        self._client.close()
