"""Raising an alert: validate, replay an Idempotency-Key, fold a dedup_key, or write the alert
and one delivery per contact method in one transaction. `alert_preview` is the dry run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from modules.sos.errors import IdempotencyConflict, InvalidAlert, NoRecipients
from modules.sos.escalation import (
    default_policy,
    escalation_begin,
    lookup_policy,
    reminders_begin,
)
from modules.sos.models import (
    Alert,
    AlertEvent,
    Contact,
    ContactMethod,
    Delivery,
    EscalationPolicy,
    Group,
    Kind,
    Severity,
)
from modules.sos.outbox.wake import wake
from modules.sos.recipients import Recipient, build_deliveries, lookup_groups, resolve_recipients

MAX_MESSAGE = 2000


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float
    accuracy_m: float | None = None


@dataclass(frozen=True)
class RaisedAlert:
    """What alert_raise did: wrote a new alert, or returned one that already stood for it."""

    alert: Alert
    replayed: bool = False  # the Idempotency-Key was seen before: its first alert
    deduplicated: bool = False  # an open alert had the same dedup_key: nobody paged again

    @property
    def created(self) -> bool:
        return not (self.replayed or self.deduplicated)


@dataclass(frozen=True)
class AlertPreview:
    """A dry run: the alert as it would be written (unsaved) and who it would reach."""

    alert: Alert
    recipients: list[Recipient]


@dataclass(frozen=True)
class _Draft:
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


def _refuse_nul(texts: dict[str, str]) -> None:
    for field, text in texts.items():
        if "\x00" in text:  # PostgreSQL cannot store it; a 400, not a 500
            raise InvalidAlert(f"{field} contains a NUL byte", details={"field": field})


def _validate(
    *,
    message: str,
    severity: str,
    groups: Sequence[Group | int | str],
    contacts: Sequence[Contact | int | str],
    methods: Sequence[ContactMethod | int],
    channels: Sequence[str] | None,
    location: dict | None,
    require_ack: bool,
    reminder_interval_min: int | None,
    reminder_max: int | None,
    escalate_to: Group | int | str | None,
    escalation_policy: EscalationPolicy | int | str | None,
    test: bool,
    source: str,
    dedup_key: str | None,
    raised_by: AbstractBaseUser | None,
    now: datetime | None,
) -> _Draft:
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
    legacy = require_ack and (
        escalation is not None or reminder_interval_min is not None or reminder_max is not None
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
    _refuse_nul({"message": message, "source": source, "dedup_key": dedup_key or ""})
    return _Draft(
        message=message,
        severity=severity,
        groups=groups,
        contacts=contacts,
        methods=methods,
        kinds=kinds,
        place=place,
        test=test,
        require_ack=require_ack and not test,
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


def _recipients(draft: _Draft) -> tuple[list[Group], list[Recipient]]:
    """The named groups and everyone the alert reaches; raises NoRecipients if nobody."""
    group_objs = lookup_groups(draft.groups)
    recipients = resolve_recipients(
        groups=group_objs,
        contacts=draft.contacts,
        methods=draft.methods,
        channels=draft.kinds,
        include_disabled=draft.test,
    )
    if not recipients:
        raise NoRecipients(
            "Nobody to alert: the groups and contacts have no enabled contact method"
            + (f" for {', '.join(draft.kinds)}" if draft.kinds else "")
        )
    return group_objs, recipients


def _unsaved_alert(draft: _Draft, groups: Sequence[Group] = ()) -> Alert:
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
    # monitor's recovery), which nobody has to act on. An alert naming a policy still follows it.
    if policy is None and not (draft.legacy or draft.test) and draft.severity != Severity.INFO:
        policy = default_policy(groups)
    if policy is not None:
        escalation_begin(alert, policy, now=draft.now)
    return alert


def _pk_or_name(item: Any) -> Any:
    return getattr(item, "pk", item)


def _fingerprint(draft: _Draft) -> str:
    """What the alert asked for: an Idempotency-Key reused for anything else is a conflict."""
    params = {
        "message": draft.message,
        "severity": draft.severity,
        "groups": sorted(map(str, map(_pk_or_name, draft.groups))),
        "contacts": sorted(map(str, map(_pk_or_name, draft.contacts))),
        "methods": sorted(map(str, map(_pk_or_name, draft.methods))),
        "channels": draft.kinds,
        "location": draft.place,
        "require_ack": draft.require_ack,
        "test": draft.test,
    }
    if draft.policy is not None:
        params["escalation_policy"] = draft.policy.pk
    blob = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _replay(scope: str, key: str, fingerprint: str) -> Alert | None:
    existing = Alert.objects.filter(idempotency_scope=scope, idempotency_key=key).first()
    if existing is not None and existing.idempotency_fingerprint != fingerprint:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used for a different alert.",
            details={"alert": existing.pk},
        )
    return existing


def _deduplicate(draft: _Draft) -> Alert | None:
    """The open alert raised with the same dedup_key within SOS_DEDUP_WINDOW_MIN, counted."""
    if not draft.dedup_key or draft.test:
        return None
    since = draft.now - timedelta(minutes=settings.SOS_DEDUP_WINDOW_MIN)
    existing = (
        Alert.objects.filter(dedup_key=draft.dedup_key, status=Alert.Status.OPEN)
        .filter(created_at__gte=since)
        .order_by("-created_at")
        .first()
    )
    if existing is None:
        return None
    Alert.objects.filter(pk=existing.pk).update(dedup_count=F("dedup_count") + 1)
    AlertEvent.objects.create(
        alert=existing,
        kind=AlertEvent.Kind.DEDUPLICATED,
        actor=draft.raised_by,
        message=f"Raised again with dedup key {draft.dedup_key!r} ({draft.source})",
        data={"source": draft.source, "message": draft.message[:200]},
    )
    return existing


@transaction.atomic
def _create(
    alert: Alert, draft: _Draft, group_objs: list[Group], recipients: list[Recipient]
) -> Alert:
    alert.save()
    if group_objs:
        alert.groups.set(group_objs)
    deliveries = Delivery.objects.bulk_create(
        build_deliveries(alert, recipients, now=draft.now), batch_size=500
    )
    AlertEvent.objects.create(
        alert=alert,
        kind=AlertEvent.Kind.RAISED,
        actor=draft.raised_by,
        message=f"Raised ({draft.source}) to {len(deliveries)} contact methods",
        data={
            "source": draft.source,
            "deliveries": len(deliveries),
            "groups": [g.name for g in group_objs],
            "channels": draft.kinds,
            "test": draft.test,
            "escalation_policy": alert.escalation_policy.name if alert.escalation_policy else None,
        },
    )
    transaction.on_commit(wake)
    return alert


def alert_raise(
    *,
    message: str,
    severity: str = "critical",
    groups: Sequence[Group | int | str] = (),
    contacts: Sequence[Contact | int | str] = (),
    methods: Sequence[ContactMethod | int] = (),
    channels: Sequence[str] | None = None,
    location: dict | None = None,
    require_ack: bool = False,
    reminder_interval_min: int | None = None,
    reminder_max: int | None = None,
    escalate_to: Group | int | str | None = None,
    escalation_policy: EscalationPolicy | int | str | None = None,
    test: bool = False,
    raised_by: AbstractBaseUser | None = None,
    source: str = "api",
    dedup_key: str | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> RaisedAlert:
    """Raise an alert: the alert and one delivery per contact method in one transaction.

    Groups and contacts may be given as objects, ids or names. `test` sends to the single
    method in `methods` (even a disabled one), marked TEST. An `idempotency_key` (scoped to the
    user, or to `source` without one) returns the alert it first created (`replayed`); a
    `dedup_key` with an open alert of the same key in the last SOS_DEDUP_WINDOW_MIN minutes
    returns that alert (`deduplicated`) instead of paging everyone again. Raises SosError
    subclasses: InvalidAlert, UnknownRecipient, NoRecipients (422), IdempotencyConflict (422).

    `escalation_policy` (object, id or name) escalates per its steps while answers are missing;
    without one, an alert that asks for no reminders of its own follows its lowest-id group's
    policy, if any (escalation.py). A policy replaces reminders and `escalate_to`.
    """
    draft = _validate(
        message=message,
        severity=severity,
        groups=groups,
        contacts=contacts,
        methods=methods,
        channels=channels,
        location=location,
        require_ack=require_ack,
        reminder_interval_min=reminder_interval_min,
        reminder_max=reminder_max,
        escalate_to=escalate_to,
        escalation_policy=escalation_policy,
        test=test,
        source=source,
        dedup_key=dedup_key,
        raised_by=raised_by,
        now=now,
    )
    scope = f"user:{raised_by.pk}" if raised_by is not None else f"source:{source}"
    key = (idempotency_key or "").strip()[:200]
    _refuse_nul({"Idempotency-Key": key})
    fingerprint = _fingerprint(draft) if key else ""
    if key and (existing := _replay(scope, key, fingerprint)) is not None:
        return RaisedAlert(existing, replayed=True)
    if (existing := _deduplicate(draft)) is not None:
        return RaisedAlert(existing, deduplicated=True)

    group_objs, recipients = _recipients(draft)
    alert = _unsaved_alert(draft, group_objs)
    alert.idempotency_scope = scope if key else ""
    alert.idempotency_key = key
    alert.idempotency_fingerprint = fingerprint
    try:
        return RaisedAlert(_create(alert, draft, group_objs, recipients))
    except IntegrityError:
        if key and (existing := _replay(scope, key, fingerprint)) is not None:
            return RaisedAlert(existing, replayed=True)  # a concurrent request won the race
        raise


def alert_preview(
    *,
    message: str,
    severity: str = "critical",
    groups: Sequence[Group | int | str] = (),
    contacts: Sequence[Contact | int | str] = (),
    methods: Sequence[ContactMethod | int] = (),
    channels: Sequence[str] | None = None,
    location: dict | None = None,
    require_ack: bool = False,
    reminder_interval_min: int | None = None,
    reminder_max: int | None = None,
    escalate_to: Group | int | str | None = None,
    escalation_policy: EscalationPolicy | int | str | None = None,
    test: bool = False,
    raised_by: AbstractBaseUser | None = None,
    source: str = "api",
    dedup_key: str | None = None,
    now: datetime | None = None,
) -> AlertPreview:
    """A dry run of alert_raise: the same checks and recipients, nothing written or sent."""
    draft = _validate(
        message=message,
        severity=severity,
        groups=groups,
        contacts=contacts,
        methods=methods,
        channels=channels,
        location=location,
        require_ack=require_ack,
        reminder_interval_min=reminder_interval_min,
        reminder_max=reminder_max,
        escalate_to=escalate_to,
        escalation_policy=escalation_policy,
        test=test,
        source=source,
        dedup_key=dedup_key,
        raised_by=raised_by,
        now=now,
    )
    group_objs, recipients = _recipients(draft)
    return AlertPreview(alert=_unsaved_alert(draft, group_objs), recipients=recipients)
