"""Which answers an alert asks for, what they are called, and what may come with them.

A person-safety alert asks "I am safe / I need help". An alert raised by a NetProbe monitor or
by an integration (PagerDuty-style intake) asks a responder "On it / Can't help", or only
"Acknowledge" for an information notice (a monitor's recovery). The kind follows from
`Alert.source`; the roll-call's labels follow the kind.
"""

from __future__ import annotations

import math
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
# "netprobe" (modules/netprobe/monitoring.py), "pagerduty:<integration>", "integration:<name>".
INCIDENT_SOURCES = frozenset({"netprobe", "pagerduty", "integration"})


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
# The statuses the roll-call always counts for a kind (others appear only when someone gave one).
MAIN_STATUSES = {
    AckKind.SAFETY: [Status.NEED_HELP, Status.NO_ANSWER, Status.RECEIVED, Status.SAFE],
    AckKind.INCIDENT: [Status.CANT_HELP, Status.NO_ANSWER, Status.RECEIVED, Status.ON_IT],
}
TONES = {
    Status.NEED_HELP: "down",
    Status.CANT_HELP: "warn",
    Status.NO_ANSWER: "warn",
    Status.RECEIVED: "info",
    Status.ON_IT: "ok",
    Status.SAFE: "ok",
}


def alert_ack_kind(alert: Alert) -> AckKind:
    """Incident for monitors and integrations ("pagerduty:<key name>"), safety otherwise."""
    prefix = alert.source.split(":", 1)[0].strip().lower()
    return AckKind.INCIDENT if prefix in INCIDENT_SOURCES else AckKind.SAFETY


def answer_choices(alert: Alert) -> list[tuple[str, str]]:
    """The buttons of the acknowledgement page, in the order shown."""
    if alert_ack_kind(alert) == AckKind.SAFETY:
        return [(Answer.SAFE, "I am safe"), (Answer.NEED_HELP, "I need help")]
    if alert.severity == Severity.INFO:
        return [(Answer.RECEIVED, "Acknowledge")]
    return [(Answer.ON_IT, "On it"), (Answer.CANT_HELP, "Can't help")]


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
