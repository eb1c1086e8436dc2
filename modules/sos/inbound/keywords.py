"""What a reply says: the keyword at its start and the note after it.

SMS keywords (case and surrounding whitespace do not matter, a trailing "." or "!" neither):

- `1` / `SAFE` (also `OK` by SMS): safe, but only as the whole message. A safe keyword
  followed by text ("1 person trapped here", "OK so I need help") is not a safe answer: in a
  safety roll-call a false "safe" is the dangerous error, so it is a NOTE (the whole text is
  kept, and the roll-call shows it without a safe answer: replies.py).
- `2` / `HELP` (also `SOS`): need help, with or without text; text after the keyword is the
  note ("HELP trapped on 3rd floor").
- Carriers' opt-out keywords STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT and opt-in
  keywords START, YES, UNSTOP count only as the whole message: "stop the leak" is not an
  opt-out, and "cancel" from someone in danger should not stop their alerts by accident more
  often than carriers already make it.
- `INFO` asks for the info reply. `HELP` is also the carriers' info keyword: it means "need
  help" when the number has an open alert, the info reply otherwise (replies.py decides).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Intent(StrEnum):
    SAFE = "safe"
    HELP = "help"
    STOP = "stop"
    START = "start"
    INFO = "info"
    NOTE = "note"  # a safe keyword followed by text: kept as a note, never as "safe"
    OTHER = "other"


OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
FIRST_WORD = {"1": Intent.SAFE, "SAFE": Intent.SAFE}
FIRST_WORD |= {"2": Intent.HELP, "HELP": Intent.HELP, "SOS": Intent.HELP}
# "OK" starts too many emails ("OK, my leg is broken") to mean anything there.
SMS_ONLY_WORDS = {"OK": Intent.SAFE}
NOTE_MAX = 500
_TRAILING = ".!,;:"


@dataclass(frozen=True)
class ParsedReply:
    intent: Intent
    note: str = ""
    after: str = ""  # NOTE: the text after the keyword (an incident's "1 looking" is on it)


def parse_reply(text: str, *, channel: str = "sms") -> ParsedReply:
    cleaned = " ".join(text.replace("\x00", "").split())
    whole = cleaned.rstrip(_TRAILING).upper()
    if whole in OPT_OUT:
        return ParsedReply(Intent.STOP)
    if whole in OPT_IN:
        return ParsedReply(Intent.START)
    if whole == "INFO":
        return ParsedReply(Intent.INFO)
    word, _, rest = cleaned.partition(" ")
    # "1." "2)" "SAFE," "HELP:" ; a digit glued to text ("2trapped") is not a keyword
    words = FIRST_WORD | SMS_ONLY_WORDS if channel == "sms" else FIRST_WORD
    intent = words.get(word.rstrip(_TRAILING + ")-").upper())
    if intent is None:
        return ParsedReply(Intent.OTHER, cleaned[:NOTE_MAX])
    note = rest.strip(" -:,.!;")
    if intent == Intent.SAFE and note:
        return ParsedReply(Intent.NOTE, cleaned[:NOTE_MAX], after=note[:NOTE_MAX])
    return ParsedReply(intent, note[:NOTE_MAX])


def first_line(text: str) -> str:
    """The first line of an email reply that is the sender's own: not empty, not quoted."""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(">"):
            continue
        if re.match(r"^On .{4,200} wrote:$", line):  # the quote header: nothing before it
            return ""
        return line
    return ""


def sms_replies_hint(source: str) -> bool:
    """Whether an alert SMS tells how to answer by text: when a reply webhook is configured
    and the alert asks "safe / need help" (incidents' answers are other words: the link)."""
    from django.conf import settings

    from modules.sos.answers import AckKind, source_ack_kind

    configured = bool(settings.SOS_SNS_TOPIC_ARNS or settings.SOS_TWILIO_AUTH_TOKEN)
    return configured and source_ack_kind(source) == AckKind.SAFETY
