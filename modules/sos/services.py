"""Workflows of the module: keyword-only functions named <thing>_<action>.

The UI, the API, the admin, the management commands and other modules (NetProbe monitors) all
call these, so they never disagree. Contact and group workflows live in contacts.py, the
recipients' answers in acks.py; both are re-exported here.
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

from modules.sos.acks import (  # noqa: F401 - re-exported workflows
    MAX_REPEAT_ANSWERS,
    AckResult,
    delivery_acknowledge,
    delivery_from_ack_token,
)
from modules.sos.contacts import (  # noqa: F401 - re-exported workflows
    ImportReport,
    contact_create,
    contact_import_csv,
    contact_method_add,
    contact_method_update,
    contact_update,
    group_add_members,
    group_create,
    group_set_members,
    group_update,
)
from modules.sos.errors import (
    AlertClosed,
    IdempotencyConflict,
    InvalidAlert,
    NoRecipients,
    NotRetryable,
)
from modules.sos.models import (
    Alert,
    AlertEvent,
    Contact,
    ContactMethod,
    Delivery,
    Group,
    Kind,
    Severity,
)
from modules.sos.recipients import Recipient, build_deliveries, lookup_groups, resolve_recipients
from modules.sos.wake import wake

State = Delivery.State
MAX_MESSAGE = 2000


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float
    accuracy_m: float | None = None


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


def _pk_or_name(item: Any) -> Any:
    return getattr(item, "pk", item)


def _fingerprint(**params: Any) -> str:
    blob = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _replay(scope: str, key: str, fingerprint: str) -> Alert | None:
    existing = Alert.objects.filter(idempotency_scope=scope, idempotency_key=key).first()
    if existing is None:
        return None
    if existing.idempotency_fingerprint != fingerprint:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used for a different alert.",
            details={"alert": existing.pk},
        )
    existing.replayed = True  # type: ignore[attr-defined]
    return existing


def alert_raise(
    *,
    message: str,
    severity: str = "critical",
    groups: Sequence[Group | int | str] = (),
    contacts: Sequence[Contact | int | str] = (),
    channels: Sequence[str] | None = None,
    location: dict | None = None,
    require_ack: bool = False,
    raised_by: AbstractBaseUser | None = None,
    source: str = "api",
    dedup_key: str | None = None,
    idempotency_key: str | None = None,
    test: bool = False,
    dry_run: bool = False,
    methods: Sequence[ContactMethod | int] = (),
    reminder_interval_min: int | None = None,
    reminder_max: int | None = None,
    escalate_to: Group | int | str | None = None,
    now: datetime | None = None,
) -> Alert:
    """Raise an alert: the alert and one delivery per contact method in one transaction.

    Groups and contacts may be given as objects, ids or names. `test` sends to the single
    method in `methods` (even a disabled one), marked TEST. `dry_run` returns an unsaved alert
    whose `.recipients` lists who would be reached. An `idempotency_key` (scoped to the user, or
    to `source` without one) returns the alert it first created (`.replayed`); a `dedup_key`
    with an open alert of the same key in the last SOS_DEDUP_WINDOW_MIN minutes returns that
    alert (`.deduplicated`) instead of paging everyone again. Raises SosError subclasses:
    InvalidAlert, UnknownRecipient, NoRecipients (422), IdempotencyConflict (422).
    """
    now = now or timezone.now()
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
    interval = reminder_interval_min or settings.SOS_REMINDER_INTERVAL_MIN
    reminders = settings.SOS_REMINDER_MAX if reminder_max is None else reminder_max
    require_ack = require_ack and not test

    scope = f"user:{raised_by.pk}" if raised_by is not None else f"source:{source}"
    key = (idempotency_key or "").strip()[:200]
    texts = {"message": message, "source": source, "dedup_key": dedup_key or ""}
    for field, text in {**texts, "Idempotency-Key": key}.items():
        if "\x00" in text:  # PostgreSQL cannot store it; a 400, not a 500
            raise InvalidAlert(f"{field} contains a NUL byte", details={"field": field})
    fingerprint = ""
    if key:
        fingerprint = _fingerprint(
            message=message,
            severity=severity,
            groups=sorted(map(str, map(_pk_or_name, groups))),
            contacts=sorted(map(str, map(_pk_or_name, contacts))),
            methods=sorted(map(str, map(_pk_or_name, methods))),
            channels=kinds,
            location=place,
            require_ack=require_ack,
            test=test,
        )
        if (existing := _replay(scope, key, fingerprint)) is not None:
            return existing

    if dedup_key and not test and not dry_run:
        since = now - timedelta(minutes=settings.SOS_DEDUP_WINDOW_MIN)
        existing = (
            Alert.objects.filter(dedup_key=dedup_key, status=Alert.Status.OPEN)
            .filter(created_at__gte=since)
            .order_by("-created_at")
            .first()
        )
        if existing is not None:
            Alert.objects.filter(pk=existing.pk).update(dedup_count=F("dedup_count") + 1)
            AlertEvent.objects.create(
                alert=existing,
                kind=AlertEvent.Kind.DEDUPLICATED,
                actor=raised_by,
                message=f"Raised again with dedup key {dedup_key!r} ({source})",
                data={"source": source, "message": message[:200]},
            )
            existing.deduplicated = True  # type: ignore[attr-defined]
            return existing

    group_objs = lookup_groups(groups)
    recipients = resolve_recipients(
        groups=group_objs, contacts=contacts, methods=methods, channels=kinds, include_disabled=test
    )
    if not recipients:
        raise NoRecipients(
            "Nobody to alert: the groups and contacts have no enabled contact method"
            + (f" for {', '.join(kinds)}" if kinds else "")
        )
    alert = Alert(
        message=message,
        severity=severity,
        latitude=place.lat if place else None,
        longitude=place.lon if place else None,
        accuracy_m=place.accuracy_m if place else None,
        channels=kinds,
        is_test=test,
        source=source[:40],
        raised_by=raised_by,
        dedup_key=(dedup_key or "")[:200],
        idempotency_scope=scope if key else "",
        idempotency_key=key,
        idempotency_fingerprint=fingerprint,
        require_ack=require_ack,
        reminder_interval_min=interval if require_ack else 0,
        reminder_max=reminders if require_ack else 0,
        escalate_to=escalation if require_ack else None,
    )
    if require_ack and (reminders > 0 or escalation is not None):
        alert.next_reminder_at = now + timedelta(minutes=interval)
    if dry_run:
        alert.recipients = recipients  # type: ignore[attr-defined]
        alert.dry_run = True  # type: ignore[attr-defined]
        return alert
    try:
        with transaction.atomic():
            alert.save()
            if group_objs:
                alert.groups.set(group_objs)
            deliveries = Delivery.objects.bulk_create(
                build_deliveries(alert, recipients, now=now), batch_size=500
            )
            AlertEvent.objects.create(
                alert=alert,
                kind=AlertEvent.Kind.RAISED,
                actor=raised_by,
                message=f"Raised ({source}) to {len(deliveries)} contact methods",
                data={
                    "source": source,
                    "deliveries": len(deliveries),
                    "groups": [g.name for g in group_objs],
                    "channels": kinds,
                    "test": test,
                },
            )
            transaction.on_commit(wake)
    except IntegrityError:
        if key and (existing := _replay(scope, key, fingerprint)) is not None:
            return existing  # a concurrent request with the same key won the race
        raise
    return alert


def alert_recipients_preview(**kwargs: Any) -> list[Recipient]:
    """Who alert_raise(**kwargs) would reach, without writing anything."""
    return alert_raise(**kwargs, dry_run=True).recipients  # type: ignore[attr-defined]


def _close(
    alert: Alert, *, status: str, by: AbstractBaseUser | None, note: str, now: datetime
) -> int:
    with transaction.atomic():
        closed = Alert.objects.filter(pk=alert.pk, status=Alert.Status.OPEN).update(
            status=status, closed_at=now, closed_by=by, next_reminder_at=None
        )
        if not closed:
            raise AlertClosed(f"Alert #{alert.pk} is already {alert.status}.")
        stopped = Delivery.objects.filter(alert=alert, state=State.PENDING).update(
            state=State.CANCELLED, closed_at=now, next_attempt_at=None
        )
        stopped += Delivery.objects.filter(
            alert=alert, state=State.SENDING, lease_until__lt=now
        ).update(state=State.CANCELLED, closed_at=now, lease_token="", lease_until=None)
        in_flight = Delivery.objects.filter(alert=alert, state=State.SENDING).count()
        kind = AlertEvent.Kind.CANCELLED if status == "cancelled" else AlertEvent.Kind.RESOLVED
        AlertEvent.objects.create(
            alert=alert,
            kind=kind,
            actor=by,
            message=(note or f"{kind.label}: {stopped} deliveries not sent")[:500],
            data={"cancelled_deliveries": stopped, "in_flight": in_flight},
        )
    alert.refresh_from_db()
    return stopped


def alert_cancel(
    *, alert: Alert, by: AbstractBaseUser | None = None, now: datetime | None = None
) -> int:
    """Cancel what is not yet sent (in-flight sends finish); returns the deliveries stopped."""
    return _close(alert, status=Alert.Status.CANCELLED, by=by, note="", now=now or timezone.now())


def alert_resolve(
    *,
    alert: Alert | None = None,
    dedup_key: str | None = None,
    by: AbstractBaseUser | None = None,
    note: str = "",
    now: datetime | None = None,
) -> Alert | None:
    """Close an alert because the cause is gone (a NetProbe monitor recovered): stops sends
    and reminders. With `dedup_key`, resolves the open alert of that key; None if there is none.
    """
    if alert is None:
        alert = Alert.objects.filter(dedup_key=dedup_key or "", status=Alert.Status.OPEN).first()
        if alert is None or not dedup_key:
            return None
    _close(alert, status=Alert.Status.RESOLVED, by=by, note=note, now=now or timezone.now())
    return alert


def delivery_retry(
    *, delivery: Delivery, by: AbstractBaseUser | None = None, now: datetime | None = None
) -> Delivery:
    """Send a failed delivery again (after fixing its address or the server), from attempt 1."""
    now = now or timezone.now()
    with transaction.atomic():
        updated = Delivery.objects.filter(
            pk=delivery.pk, state=State.FAILED, alert__status=Alert.Status.OPEN
        ).update(state=State.PENDING, attempts=0, next_attempt_at=now, closed_at=None)
        if not updated:
            raise NotRetryable("Only failed deliveries of open alerts can be retried.")
        AlertEvent.objects.create(
            alert_id=delivery.alert_id,
            delivery=delivery,
            kind=AlertEvent.Kind.RETRIED,
            actor=by,
            message=f"Retry requested for {delivery.contact_name}",
            data={"from": State.FAILED, "to": State.PENDING},
        )
        transaction.on_commit(wake)
    delivery.refresh_from_db()
    return delivery


def contact_method_test(
    *, method: ContactMethod, by: AbstractBaseUser | None = None, source: str = "ui"
) -> Alert:
    """Send a TEST alert to one contact method, to check the address and the channel."""
    return alert_raise(
        message=f"Test message for {method.contact.name} ({method.get_kind_display()}). "
        "No action is needed.",
        severity="info",
        methods=[method],
        raised_by=by,
        source=source,
        test=True,
    )
