"""Email through a Django email backend (SMTP, console, file, locmem) or Amazon SES (sesv2).

SMTP connections are kept per sender thread for the length of one dispatcher pass.
"""

from __future__ import annotations

import contextlib
import smtplib
import threading
from email.utils import make_msgid, parseaddr
from typing import Any

from modules.sos.channels.aws import aws_client, classify_aws_error
from modules.sos.channels.base import ChannelError, Message, Sent, Target, truncate

BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
}

# Refused for reasons of the server or its configuration, not of the address: retrying helps
# once someone fixes them, and they must not mark the recipient's contact method as broken.
_SERVER_SIDE = (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError)


def classify_smtp_error(exc: BaseException) -> ChannelError:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()), (0, b""))
        return _by_code(code, reply, "recipient refused")
    if isinstance(exc, _SERVER_SIDE):
        return ChannelError(f"SMTP server refused us: {_reply(exc)}", permanent=False)
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
    return parseaddr(from_email)[1].rpartition("@")[2] or "portal.invalid"


def build_email(target: Target, message: Message, from_email: str) -> Any:
    from django.core.mail import EmailMultiAlternatives

    headers = {
        "Message-ID": make_msgid("sos", domain=_msgid_domain(from_email)),
        "X-Portal-Delivery": message.idempotency_key,
        "Auto-Submitted": "auto-generated",
    }
    if message.priority:
        headers.update({"X-Priority": "1", "Importance": "high"})
    email = EmailMultiAlternatives(
        message.subject, message.text, from_email, [target.address], headers=headers
    )
    if message.html:
        email.attach_alternative(message.html, "text/html")
    return email


class DjangoEmailChannel:
    kind = "email"

    def __init__(self, *, backend: str, from_email: str) -> None:
        self.backend = BACKENDS.get(backend, backend)
        self.from_email = from_email
        self._local = threading.local()
        self._open: list[Any] = []
        self._lock = threading.Lock()

    def _connection(self) -> tuple[Any, bool]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn, True
        from django.core.mail import get_connection

        conn = get_connection(self.backend, fail_silently=False)
        conn.open()
        self._local.conn = conn
        with self._lock:
            self._open.append(conn)
        return conn, False

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
        for attempt in (1, 2):
            reused = False
            try:
                conn, reused = self._connection()
                conn.send_messages([email])
                return Sent(provider_message_id=email.extra_headers["Message-ID"])
            except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
                self._drop()
                # A kept connection the server closed while idle: nothing was accepted on it.
                if attempt == 1 and reused:
                    continue
                raise classify_smtp_error(exc) from exc
            except smtplib.SMTPRecipientsRefused as exc:
                raise classify_smtp_error(exc) from exc  # the connection is still good
            except (smtplib.SMTPException, OSError, ValueError) as exc:
                self._drop()
                raise classify_smtp_error(exc) from exc
        raise AssertionError("unreachable")

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
        body: dict[str, Any] = {"Text": {"Data": message.text, "Charset": "UTF-8"}}
        if message.html:
            body["Html"] = {"Data": message.html, "Charset": "UTF-8"}
        kwargs: dict[str, Any] = {
            "FromEmailAddress": self.from_email,
            "Destination": {"ToAddresses": [target.address]},
            "Content": {
                "Simple": {"Subject": {"Data": message.subject, "Charset": "UTF-8"}, "Body": body}
            },
            "EmailTags": [{"Name": "portal-delivery", "Value": message.idempotency_key}],
        }
        if self.configuration_set:
            kwargs["ConfigurationSetName"] = self.configuration_set
        try:
            response = self._client.send_email(**kwargs)
        except Exception as exc:
            raise classify_aws_error(exc) from exc
        return Sent(provider_message_id=response.get("MessageId", ""))

    def close(self) -> None:
        self._client.close()
