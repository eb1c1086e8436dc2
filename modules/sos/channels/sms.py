"""SMS through Amazon SNS `Publish` to a phone number, kept within a few GSM-7 segments."""

from __future__ import annotations

import re
from typing import Any

from modules.sos.channels.aws import aws_client, classify_aws_error
from modules.sos.channels.base import ChannelError, Message, Sent, Target

E164 = re.compile(r"^\+[1-9]\d{6,14}$")

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")  # each costs two septets (escape + char)

# One character outside GSM-7 switches the whole message to UCS-2: 70 instead of 160 per
# segment. Typographic punctuation is the usual culprit, so it is folded to ASCII first.
_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u202f": " ",
        "\u2022": "*",
        "\t": " ",
    }
)


def normalize_phone(value: str) -> str:
    """'+1 (555) 010-0100' -> '+15550100100'; raises ValueError if it is not E.164."""
    compact = re.sub(r"[\s().\-]", "", value or "")
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not E164.match(compact):
        raise ValueError("Enter the number in international E.164 form, e.g. +15555550100.")
    return compact


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text)


def septets(text: str) -> int:
    return sum(2 if c in GSM7_EXTENDED else 1 for c in text)


# Units per segment (single message, part of a longer one): the User Data Header of a
# concatenated message takes 7 septets (GSM-7) or 3 characters (UCS-2) of each part.
GSM7_LIMITS = (160, 153)
UCS2_LIMITS = (70, 67)


def segments(text: str) -> int:
    """How many SMS segments `text` takes (GSM-7 153/160, UCS-2 67/70 per segment): what a
    carrier bills and what the rate governor (outbox/governor.py) counts; the one count."""
    if is_gsm7(text):
        size, (single, multi) = septets(text), GSM7_LIMITS
    else:
        # UCS-2 counts UTF-16 code units: an emoji takes two.
        size, (single, multi) = len(text.encode("utf-16-le")) // 2, UCS2_LIMITS
    if size <= single:
        return 1
    return -(-size // multi)


def fit_sms(text: str, max_segments: int) -> str:
    """Fold typography to GSM-7 where possible, then cut to at most `max_segments` segments."""
    text = " ".join(text.translate(_FOLD).split(" ")).strip()
    if segments(text) <= max_segments:
        return text
    gsm = is_gsm7(text)
    single, multi = GSM7_LIMITS if gsm else UCS2_LIMITS
    budget = single if max_segments == 1 else multi * max_segments
    ellipsis = "..."
    out: list[str] = []
    used = len(ellipsis)
    for char in text:
        cost = (2 if char in GSM7_EXTENDED else 1) if gsm else len(char.encode("utf-16-le")) // 2
        if used + cost > budget:
            break
        out.append(char)
        used += cost
    return "".join(out).rstrip() + ellipsis


class SnsSmsChannel:
    kind = "sms"

    def __init__(
        self,
        *,
        region: str,
        timeout: float,
        sender_id: str = "",
        max_segments: int = 3,
        endpoint_url: str | None = None,
    ) -> None:
        self.sender_id = sender_id
        self.max_segments = max_segments
        self._client = aws_client("sns", region=region, timeout=timeout, endpoint_url=endpoint_url)

    def send(self, target: Target, message: Message) -> Sent:
        try:
            phone = normalize_phone(target.address)
        except ValueError as exc:
            raise ChannelError(f"{target.address!r}: {exc}", permanent=True) from exc
        attributes: dict[str, Any] = {
            # Transactional: SNS routes for reliability over cost, as alerts need.
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
        }
        if self.sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {
                "DataType": "String",
                "StringValue": self.sender_id,
            }
        text = fit_sms(message.sms, self.max_segments)
        try:
            response = self._client.publish(
                PhoneNumber=phone, Message=text, MessageAttributes=attributes
            )
        except Exception as exc:
            raise classify_aws_error(exc) from exc
        return Sent(provider_message_id=response.get("MessageId", ""))

    def close(self) -> None:
        self._client.close()
