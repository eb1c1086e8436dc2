"""The validated input of one alert (a draft) and the unsaved Alert it becomes, with the
escalation it follows. alert_raise and alert_preview (raising.py) both start here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from modules.sos.errors import InvalidAlert
from modules.sos.escalation import (
    default_policy,
    escalation_begin,
    lookup_policy,
    reminders_begin,
)
from modules.sos.models import (
    Alert,
    Contact,
    ContactMethod,
    EscalationPolicy,
    Group,
    Kind,
    Severity,
)
from modules.sos.recipients import lookup_groups

MAX_MESSAGE = 2000


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float
    accuracy_m: float | None = None


@dataclass(frozen=True)
class Draft:
    """Validated input of one alert; nothing looked up but the escalation group."""

    message: str
    severity: str
    groups: Sequence[Group | int | str]
    contacts: Sequence[Contact | int | str]
    methods: Sequence[ContactMethod | int]
    kinds: list[str]
    place: Location | None
    test: bool
    require_ack: bool
    ack_declined: bool  # the caller said require_ack false: no group's policy either
    interval: int
    reminders: int
    escalation: Group | None
    policy: EscalationPolicy | None  # named by the caller; else maybe a group's (escalation.py)
    legacy: bool  # the caller asked for reminders / escalate_to of this alert's own
    source: str
    dedup_key: str
    raised_by: AbstractBaseUser | None
    now: datetime


def _location(value: dict | None) -> Location | None:
    if not value:
        return None
    try:
        lat, lon = float(value["lat"]), float(value["lon"])
        accuracy = value.get("accuracy_m")
        accuracy = None if accuracy in (None, "") else float(accuracy)
    except (KeyError, TypeError, ValueError):
        raise InvalidAlert(
            "location needs numeric lat and lon", details={"field": "location"}
        ) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (accuracy is not None and accuracy < 0):
        raise InvalidAlert(
            "location is out of range (lat -90..90, lon -180..180, accuracy_m >= 0)",
            details={"field": "location"},
        )
    return Location(lat, lon, accuracy)


def refuse_nul(texts: dict[str, str]) -> None:
    for field, text in texts.items():
        if "\x00" in text:  # PostgreSQL cannot store it; a 400, not a 500
            raise InvalidAlert(f"{field} contains a NUL byte", details={"field": field})


def draft_validate(
    *,
    message: str,
    severity: str,
    groups: Sequence[Group | int | str],
    contacts: Sequence[Contact | int | str],
    methods: Sequence[ContactMethod | int],
    channels: Sequence[str] | None,
    location: dict | None,
    require_ack: bool | None,
    reminder_interval_min: int | None,
    reminder_max: int | None,
    escalate_to: Group | int | str | None,
    escalation_policy: EscalationPolicy | int | str | None,
    test: bool,
    source: str,
    dedup_key: str | None,
    raised_by: AbstractBaseUser | None,
    now: datetime | None,
) -> Draft:
    message = (message or "").strip()
    if not message:
        raise InvalidAlert("message is required", details={"field": "message"})
    if len(message) > MAX_MESSAGE:
        raise InvalidAlert(f"message is longer than {MAX_MESSAGE} characters")
    if severity not in Severity.values:
        raise InvalidAlert(f"severity must be info, warning or critical, not {severity!r}")
    kinds = sorted(set(channels or ()))
    if unknown := [k for k in kinds if k not in Kind.values]:
        raise InvalidAlert(f"Unknown channels: {', '.join(unknown)}", details={"field": "channels"})
    place = _location(location)
    if test and len(methods) != 1:
        raise InvalidAlert("A test alert goes to exactly one contact method", details={})
    escalation = lookup_groups([escalate_to])[0] if escalate_to not in (None, "") else None
    legacy = bool(require_ack) and (
        escalation is not None or reminder_interval_min is not None or reminder_max is not None
    )
    if require_ack is False and escalation_policy not in (None, ""):
        raise InvalidAlert(
            "An escalation policy needs acknowledgements: give require_ack true (or leave it"
            " out) with escalation_policy, or leave escalation_policy out with require_ack false",
            details={"field": "require_ack"},
        )
    policy = None
    if escalation_policy not in (None, "") and not test:
        policy = lookup_policy(escalation_policy)  # type: ignore[arg-type]
        if legacy:
            raise InvalidAlert(
                "escalation_policy replaces reminder_interval_min, reminder_max and escalate_to:"
                " give one or the other",
                details={"field": "escalation_policy"},
            )
    refuse_nul({"message": message, "source": source, "dedup_key": dedup_key or ""})
    return Draft(
        message=message,
        severity=severity,
        groups=groups,
        contacts=contacts,
        methods=methods,
        kinds=kinds,
        place=place,
        test=test,
        require_ack=bool(require_ack) and not test,
        ack_declined=require_ack is False,
        interval=reminder_interval_min or settings.SOS_REMINDER_INTERVAL_MIN,
        reminders=settings.SOS_REMINDER_MAX if reminder_max is None else reminder_max,
        escalation=escalation,
        policy=policy,
        legacy=legacy,
        source=source,
        dedup_key=dedup_key or "",
        raised_by=raised_by,
        now=now or timezone.now(),
    )


def unsaved_alert(draft: Draft, groups: Sequence[Group] = ()) -> Alert:
    place, require_ack = draft.place, draft.require_ack
    alert = Alert(
        message=draft.message,
        severity=draft.severity,
        latitude=place.lat if place else None,
        longitude=place.lon if place else None,
        accuracy_m=place.accuracy_m if place else None,
        channels=draft.kinds,
        is_test=draft.test,
        source=draft.source[:40],
        raised_by=draft.raised_by,
        dedup_key=draft.dedup_key[:200],
        require_ack=require_ack,
        reminder_interval_min=draft.interval if require_ack else 0,
        reminder_max=draft.reminders if require_ack else 0,
        escalate_to=draft.escalation if require_ack else None,
    )
    reminders_begin(alert, now=draft.now)
    policy = draft.policy
    # A group's policy pages people up the chain: never for a notice (severity info, such as a
    # monitor's recovery), which nobody has to act on, nor for an alert raised with require_ack
    # false, which asks nobody to answer. An alert naming a policy still follows it.
    own = draft.legacy or draft.test or draft.ack_declined
    if policy is None and not own and draft.severity != Severity.INFO:
        policy = default_policy(groups)
    if policy is not None:
        escalation_begin(alert, policy, now=draft.now)
    return alert
