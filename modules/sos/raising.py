"""Raising an alert: replay an Idempotency-Key, fold a dedup_key, or write the alert and one
delivery per contact method in one transaction. `alert_preview` is the dry run. The input's
checks and the escalation an alert follows are in alert_draft.py.
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

from modules.sos.alert_draft import Draft, draft_validate, refuse_nul, unsaved_alert
from modules.sos.errors import IdempotencyConflict, NoRecipients
from modules.sos.models import (
    Alert,
    AlertEvent,
    Contact,
    ContactMethod,
    Delivery,
    EscalationPolicy,
    Group,
)
from modules.sos.outbox.wake import wake
from modules.sos.recipients import Recipient, build_deliveries, lookup_groups, resolve_recipients


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


def _recipients(draft: Draft) -> tuple[list[Group], list[Recipient]]:
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


def _pk_or_name(item: Any) -> Any:
    return getattr(item, "pk", item)


def _fingerprint(draft: Draft) -> str:
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
    if draft.ack_declined:  # only then: the keys of earlier alerts keep their fingerprints
        params["ack_declined"] = True
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


def _deduplicate(draft: Draft) -> Alert | None:
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
    alert: Alert, draft: Draft, group_objs: list[Group], recipients: list[Recipient]
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
    require_ack: bool | None = None,
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
    `require_ack` has three states: None (not given) lets a group's policy apply, True asks
    for answers, False asks for none and takes no group's policy (naming one with it is an
    InvalidAlert).
    """
    draft = draft_validate(
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
    refuse_nul({"Idempotency-Key": key})
    fingerprint = _fingerprint(draft) if key else ""
    if key and (existing := _replay(scope, key, fingerprint)) is not None:
        return RaisedAlert(existing, replayed=True)
    if (existing := _deduplicate(draft)) is not None:
        return RaisedAlert(existing, deduplicated=True)

    group_objs, recipients = _recipients(draft)
    alert = unsaved_alert(draft, group_objs)
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
    require_ack: bool | None = None,
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
    draft = draft_validate(
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
    return AlertPreview(alert=unsaved_alert(draft, group_objs), recipients=recipients)
