"""Email replies: the per-delivery Reply-To address, and what a received email says.

An alert email carries `Reply-To: sos+<delivery id>.<mac>@SOS_REPLY_TO_DOMAIN` when that
setting is set; the mac (an HMAC of the id under SECRET_KEY) makes the address unguessable,
as the signed token makes the acknowledgement link. A reply without it (a mail client that
dropped Reply-To, a forward) is matched by the acknowledgement link quoted in its body.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

REPLY_SALT = "modules.sos.reply-to"
MAC_CHARS = 20  # 80 bits; the local part stays far below its 64-character limit
_LOCAL = re.compile(rf"^sos\+(\d{{1,18}})\.([0-9a-f]{{{MAC_CHARS}}})$")
_ACK_LINK = re.compile(r"/sos/ack/([A-Za-z0-9_\-:]{10,200})/")
BODY_MAX_CHARS = 200_000


def _mac(delivery_id: int) -> str:
    return salted_hmac(REPLY_SALT, str(delivery_id), algorithm="sha256").hexdigest()[:MAC_CHARS]


def reply_to_address(delivery_id: int) -> str:
    """The Reply-To of a delivery's email; "" when SOS_REPLY_TO_DOMAIN is not set."""
    domain = settings.SOS_REPLY_TO_DOMAIN
    return f"sos+{delivery_id}.{_mac(delivery_id)}@{domain}" if domain else ""


def delivery_id_from_address(address: str) -> int | None:
    """The delivery a reply address names, if its mac is right (any domain: forwarding may
    rewrite it)."""
    local = address.strip().lower().rpartition("@")[0]
    match = _LOCAL.match(local)
    if not match:
        return None
    pk = int(match.group(1))
    return pk if constant_time_compare(match.group(2), _mac(pk)) else None


_SKIPPED = re.compile(r"<(script|style)\b", re.IGNORECASE)


def html_text(markup: str) -> str:
    """The visible text of `markup` (at most BODY_MAX_CHARS of it), script and style left out.

    One forward scan with str.find, never going back: a regex over tags backtracks on an
    unclosed <script>, and html.parser is quadratic on inputs like "</</</…"; anyone who can
    email the reply domain could stall a worker with either.
    """
    markup = markup[:BODY_MAX_CHARS]
    lower = markup.lower()
    parts: list[str] = []
    pos = 0
    while pos < len(markup):
        start = markup.find("<", pos)
        if start < 0:
            parts.append(markup[pos:])
            break
        parts.append(markup[pos:start])
        skipped = _SKIPPED.match(markup, start)
        if skipped:
            close = lower.find(f"</{skipped.group(1).lower()}", skipped.end())
            end = markup.find(">", close) if close >= 0 else -1
        else:
            end = markup.find(">", start + 1)
        if end < 0:
            break  # an unclosed tag runs to the end: nothing visible follows
        parts.append("\n")
        pos = end + 1
    return html.unescape("".join(parts))


@dataclass(frozen=True)
class ReceivedMail:
    sender: str
    subject: str
    recipients: list[str]
    text: str  # the body as plain text (HTML reduced to text when there is no plain part)
    auto_submitted: bool = False  # an auto-reply or a bounce (RFC 3834)

    def ack_tokens(self) -> list[str]:
        """Tokens of acknowledgement links in the body (the quoted alert), first first."""
        return list(dict.fromkeys(_ACK_LINK.findall(self.text)))[:5]


def parse_mail(raw: bytes, *, envelope_recipients: list[str] | None = None) -> ReceivedMail:
    """Raises ValueError when `raw` has no readable body."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    recipients = list(envelope_recipients or [])
    for header in ("To", "Cc", "Delivered-To"):
        try:
            values = [str(v) for v in message.get_all(header) or []]
        except Exception:  # noqa: S112 (a malformed header: the others may still name it)
            continue
        recipients += [addr for _, addr in getaddresses(values) if addr]
    try:
        sender = str(message.get("From", ""))
        subject = str(message.get("Subject", ""))
        auto = str(message.get("Auto-Submitted", "no")).strip().lower() not in ("", "no")
        auto = auto or message.get_content_type() == "multipart/report"
        part = message.get_body(preferencelist=("plain", "html"))
        content = part.get_content() if part is not None else ""
    except Exception as exc:  # the email package's errors are of many types: one answer
        raise ValueError(f"unreadable email: {type(exc).__name__}") from exc
    if not isinstance(content, str):
        raise ValueError("the email has no text body")
    content = content[:BODY_MAX_CHARS]
    if part is not None and part.get_content_subtype() == "html":
        content = html_text(content)
    return ReceivedMail(
        sender=getaddresses([sender])[0][1] if sender else "",
        subject=subject[:300],
        recipients=list(dict.fromkeys(r.lower() for r in recipients))[:50],
        text=content[:BODY_MAX_CHARS],
        auto_submitted=auto,
    )
