"""Which answers an alert asks for, what they are called, and what may come with them.

A person-safety alert asks "I am safe / I need help". An alert raised by a NetProbe monitor or
by an integration (PagerDuty-style intake) asks a responder "On it / Can't help", or only
"Acknowledge" for an information notice (a monitor's recovery). The kind follows from
`Alert.source`; the roll-call's labels follow the kind.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings

from modules.sos.errors import InvalidAlert
from modules.sos.models import Alert, Delivery, Severity

Answer = Delivery.Answer
NOTE_MAX = 500
ACCURACY_MAX_M = 100_000.0  # beyond 100 km a position says nothing about where someone is
# Sources whose alerts page responders about an incident, not people about their safety:
# "netprobe" (modules/netprobe/transitions.py, certexpiry.py) and "pagerduty:<integration>"
# (integration_models.SOURCE_PREFIX).
INCIDENT_SOURCES = frozenset({"netprobe", "pagerduty"})


LIVE_POLL_MS = 1500  # while the alert is open: sends and answers change by the second
CLOSED_POLL_MS = 10_000  # after the end, while links still take (late) answers


def live_poll_ms(alert: Alert, now: datetime) -> int:
    """How often a page about the alert (its page, its roll-call) checks for changes; 0 once
    nothing can change any more: the alert is closed and its links have expired."""
    if alert.status == Alert.Status.OPEN:
        return LIVE_POLL_MS
    links_expire = alert.created_at + timedelta(days=settings.SOS_ACK_MAX_AGE_DAYS)
    return CLOSED_POLL_MS if now < links_expire else 0


class AckKind(StrEnum):
    SAFETY = "safety"
    INCIDENT = "incident"


class Status(StrEnum):
    """A person's place in the roll-call: their latest answer, or none."""

    NEED_HELP = "need_help"
    CANT_HELP = "cant_help"
    NO_ANSWER = "no_answer"
    RECEIVED = "received"
    ON_IT = "on_it"
    SAFE = "safe"


# Listed in this order: who needs attention first.
STATUS_ORDER = [s.value for s in Status]

LABELS = {
    AckKind.SAFETY: {
        Status.NEED_HELP: "Need help",
        Status.NO_ANSWER: "No answer",
        Status.RECEIVED: "Received, safety not stated",
        Status.SAFE: "Safe",
        Status.ON_IT: "On it",
        Status.CANT_HELP: "Can't help",
    },
    AckKind.INCIDENT: {
        Status.NEED_HELP: "Needs help",
        Status.CANT_HELP: "Can't help",
        Status.NO_ANSWER: "No answer",
        Status.RECEIVED: "Acknowledged",
        Status.ON_IT: "On it",
        Status.SAFE: "Safe",
    },
}
TONES = {
    Status.NEED_HELP: "down",
    Status.CANT_HELP: "warn",
    Status.NO_ANSWER: "warn",
    Status.RECEIVED: "info",
    Status.ON_IT: "ok",
    Status.SAFE: "ok",
}


def source_ack_kind(source: str) -> AckKind:
    """Incident for monitors and integrations ("pagerduty:<key name>"), safety otherwise."""
    prefix = source.split(":", 1)[0].strip().lower()
    return AckKind.INCIDENT if prefix in INCIDENT_SOURCES else AckKind.SAFETY


def alert_ack_kind(alert: Alert) -> AckKind:
    return source_ack_kind(alert.source)


def answer_choices(alert: Alert) -> list[tuple[str, str]]:
    """The buttons of the acknowledgement page, in the order shown."""
    if alert_ack_kind(alert) == AckKind.SAFETY:
        return [(Answer.SAFE, "I am safe"), (Answer.NEED_HELP, "I need help")]
    if alert.severity == Severity.INFO:
        return [(Answer.RECEIVED, "Acknowledge")]
    return [(Answer.ON_IT, "On it"), (Answer.CANT_HELP, "Can't help")]


def counted_statuses(alert: Alert, given: Mapping[str, int]) -> list[Status]:
    """The statuses a page about the alert counts, in STATUS_ORDER: no answer and the answers
    the alert asks for (its buttons; on a safety check "received" too, never counted as safe)
    even at zero; any other only when someone gave it (`given`: count per status), such as
    "received" on an incident from a reply that is only a note. "I am safe" never shows on an
    incident, "On it" never on a safety check."""
    asked = {Status(value) for value, _ in answer_choices(alert)}
    if alert_ack_kind(alert) == AckKind.SAFETY:
        asked.add(Status.RECEIVED)
    return [s for s in Status if s in asked or s == Status.NO_ANSWER or given.get(s, 0)]


@dataclass(frozen=True)
class AnswerLocation:
    """Where the recipient was when answering (the browser's geolocation), validated."""

    latitude: float
    longitude: float
    accuracy_m: float | None = None

    def __post_init__(self) -> None:
        for name, value, low, high in (
            ("latitude", self.latitude, -90.0, 90.0),
            ("longitude", self.longitude, -180.0, 180.0),
            ("accuracy_m", self.accuracy_m, 0.0, ACCURACY_MAX_M),
        ):
            if value is None and name == "accuracy_m":
                continue
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not math.isfinite(value)
                or not low <= value <= high
            ):
                raise InvalidAlert(
                    f"{name} must be a number from {low:g} to {high:g}",
                    details={"field": name},
                )

    @classmethod
    def from_strings(cls, latitude: str, longitude: str, accuracy_m: str = "") -> AnswerLocation:
        """From a form; raises InvalidAlert when a value is not a number in range."""
        try:
            lat, lon = float(latitude), float(longitude)
            accuracy = float(accuracy_m) if accuracy_m.strip() else None
        except ValueError:
            raise InvalidAlert("The location is not a pair of numbers.") from None
        return cls(lat, lon, accuracy)
