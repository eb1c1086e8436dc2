"""Delivery rows as durable work: claim due rows with a lease and give expired leases back;
outcomes are written by outcomes.py, only while the lease is still held.

PostgreSQL claims with SELECT ... FOR UPDATE SKIP LOCKED; SQLite with one conditional UPDATE
(SQLite runs one writer at a time).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F

from modules.sos.models import Alert, AlertEvent, Delivery
from modules.sos.outbox.job import Job
from modules.sos.outbox.leases import SEND_MARGIN_S
from modules.sos.outbox.locking import retry_if_locked
from modules.sos.outbox.outcomes import (  # noqa: F401 (the names callers import from here)
    RETRY_AFTER_CAP_S,
    Outcome,
    PassReport,
    Recipient,
    _lease_deadline,
    _release,
    backoff_delay,
    record_outcomes,
    retry_delay,
)
from modules.sos.outbox.pg_bulk import claim_rows

State = Delivery.State


def _job(row: Any) -> Job:  # a Delivery with its alert and method, or pg_bulk's claimed row
    alert, method = row.alert, row.method
    refuse = ""
    if method is None:
        refuse = "The contact method was deleted"
    elif not method.is_enabled and not alert.is_test:
        refuse = "The contact method is disabled"
    elif method.opted_out_at is not None and row.kind == "sms":
        # Two-way replies: the number texted STOP; carriers forbid sending until START.
        refuse = "recipient opted out (STOP)"
    return Job(
        delivery_id=row.pk,
        lease_token=row.lease_token,
        attempt=row.attempts,
        round=row.round,
        kind=row.kind,
        address=row.address,
        secret=method.secret if method else "",
        contact_name=row.contact_name,
        method_id=row.method_id,
        escalation=row.escalation,
        alert_id=alert.pk,
        message=alert.message,
        severity=alert.severity,
        is_test=alert.is_test,
        require_ack=alert.require_ack,
        source=alert.source,
        raised_at=alert.created_at,
        latitude=alert.latitude,
        longitude=alert.longitude,
        accuracy_m=alert.accuracy_m,
        refuse=refuse,
        lease_until=row.lease_until,
    )


def claim_due(*, now: datetime, limit: int) -> list[Job]:
    """Lease up to `limit` due rows to this caller; concurrent callers get disjoint rows."""
    token = uuid.uuid4().hex
    changes = {
        "state": State.SENDING,
        "lease_token": token,
        "lease_until": now + timedelta(seconds=settings.SOS_LEASE_S),
        "attempts": F("attempts") + 1,
        "last_attempt_at": now,
    }
    # The index (state, priority, next_attempt_at) in order, stopping at the limit: no join and
    # no further sort key, so a backlog of thousands is not sorted on every claim (the
    # planner's row counts lag behind a large alert just raised). Rows of an alert closed
    # meanwhile are cancelled below; closing an alert cancels its pending rows anyway.
    due = Delivery.objects.due(now).order_by("priority", "next_attempt_at")
    if connection.vendor == "postgresql":
        claimed = claim_rows(now=now, limit=limit, token=token, lease_until=changes["lease_until"])
        if not claimed:
            return []
    elif connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            locked = due.select_for_update(skip_locked=True, of=("self",))
            ids = list(locked.values_list("id", flat=True)[:limit])
            if not ids:
                return []
            Delivery.objects.filter(id__in=ids).update(**changes)
    else:
        # SQLite: one UPDATE whose WHERE re-checks the state; SQLite runs one writer at a
        # time, so a row another claimer took is no longer pending here.
        subquery = due.values("id")[:limit]
        claimed = retry_if_locked(
            lambda: Delivery.objects.filter(
                id__in=subquery, state=State.PENDING, next_attempt_at__lte=now
            ).update(**changes)
        )
        if not claimed:
            return []
    if connection.vendor != "postgresql":
        # In queue order, as claimed: the pool starts them in this order (the life-safety lane).
        rows = (
            Delivery.objects.filter(lease_token=token, state=State.SENDING)
            .select_related("alert", "method")
            .order_by("priority", "next_attempt_at", "id")
        )
        claimed = retry_if_locked(lambda: list(rows))
    closed = [row.pk for row in claimed if row.alert.status != Alert.Status.OPEN]
    if closed:
        retry_if_locked(
            lambda: Delivery.objects.filter(pk__in=closed, lease_token=token).update(
                state=State.CANCELLED,
                closed_at=now,
                lease_token="",
                lease_until=None,
                next_attempt_at=None,
                attempts=F("attempts") - 1,
            )
        )
    return [_job(row) for row in claimed if row.pk not in closed]


def requeue_expired_leases(*, now: datetime, skip: Collection[int] = ()) -> int:
    """A worker died mid-send: its rows are due again (or failed, after the last attempt).

    A row keeps its priority and its place in the queue, ahead of the rows due at the same
    time (see below), so a dead worker's recipients are not paged behind the whole backlog.
    Cheap enough to run every second (the (state, lease_until) index).

    A lease counts as expired SEND_MARGIN_S after its end (clocks differ between hosts), and
    `skip` names the rows the calling pass still has in flight: a pass never requeues its own
    finished send whose outcome is waiting to be written.
    """
    cutoff = now - timedelta(seconds=SEND_MARGIN_S)
    expired = retry_if_locked(
        lambda: list(
            Delivery.objects.lease_expired(cutoff)
            .exclude(id__in=list(skip))
            .values_list("id", "alert_id", "attempts", "alert__status", "contact_name", "kind")[
                :500
            ]
        )
    )
    count = 0
    for pk, alert_id, attempts, alert_status, name, kind in expired:
        if alert_status != Alert.Status.OPEN:
            change = {"state": State.CANCELLED, "closed_at": now}
        elif attempts >= settings.SOS_MAX_ATTEMPTS:
            change = {
                "state": State.FAILED,
                "closed_at": now,
                "last_error": "The worker was lost during the last attempt; the outcome is unknown",
            }
        else:
            # First among equals: a microsecond before its due time puts it ahead of the rows
            # due with it (its alert's other recipients), behind none that became due later.
            change = {
                "state": State.PENDING,
                "next_attempt_at": F("next_attempt_at") - timedelta(microseconds=1),
            }
        who = Recipient(name, kind)
        count += retry_if_locked(
            lambda p=pk, a=alert_id, n=attempts, c=change, w=who: _requeue(p, a, n, c, w, cutoff)
        )
    return count


_AFTER_EXPIRY = {
    State.PENDING: "due again now",
    State.FAILED: "failed, it was the last attempt",
    State.CANCELLED: "cancelled, the alert is closed",
}


def _requeue(
    pk: int, alert_id: int, attempts: int, change: dict, who: Recipient, cutoff: datetime
) -> int:
    with transaction.atomic():
        updated = Delivery.objects.filter(
            pk=pk, state=State.SENDING, lease_until__lte=cutoff
        ).update(lease_token="", lease_until=None, **change)
        if updated:
            AlertEvent.objects.create(
                alert_id=alert_id,
                delivery_id=pk,
                kind=AlertEvent.Kind.LEASE_EXPIRED,
                message=(
                    f"{who}: lease expired during attempt {attempts}; "
                    f"{_AFTER_EXPIRY[change['state']]}"
                )[:500],
                data={
                    "attempt": attempts,
                    "from": State.SENDING,
                    "to": change["state"],
                    **who.data(),
                },
            )
    return updated


def release_unstarted(inflight: dict[Future[Any], Job], now: datetime) -> None:
    """On stop, hand back claimed rows whose send has not started: due again at once."""
    for future, job in list(inflight.items()):
        if future.cancelled() or not future.cancel():
            continue  # running: it finishes and its outcome is recorded
        outcome = Outcome(job, None, None, 0, released=True)
        retry_if_locked(lambda j=job: _release(j, now), until=_lease_deadline([outcome]))
