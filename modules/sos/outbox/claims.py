"""Delivery rows as durable work: claim due rows with a lease, give expired leases back, and
write outcomes only while the lease is still held.

PostgreSQL claims with SELECT ... FOR UPDATE SKIP LOCKED; SQLite with one conditional UPDATE
(SQLite runs one writer at a time). Retries back off exponentially with jitter.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from modules.sos.channels import ChannelError, Sent
from modules.sos.models import Alert, AlertEvent, ContactMethod, Delivery
from modules.sos.outbox.job import Job
from modules.sos.outbox.leases import SEND_MARGIN_S
from modules.sos.outbox.locking import retry_if_locked

logger = logging.getLogger("modules.sos.dispatch")
_rng = random.SystemRandom()

State = Delivery.State


@dataclass
class PassReport:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    stale: int = 0
    expired: int = 0
    reminders: int = 0
    released: int = 0  # handed back unsent: too little lease was left to start the send

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Outcome:
    job: Job
    sent: Sent | None
    error: ChannelError | None
    duration_ms: int
    released: bool = False  # not sent: the row goes back to pending, the attempt uncounted


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random = _rng) -> float:
    """Exponential backoff with "equal jitter": uniform in [d/2, d], d = min(cap, base*2^(n-1))."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return rng.uniform(ceiling / 2, ceiling)


# A peer's Retry-After is honoured, within reason: a day-long ask must not park an alert.
RETRY_AFTER_CAP_S = 3600.0


def retry_delay(attempt: int, retry_after: float | None) -> float:
    delay = backoff_delay(attempt, base=settings.SOS_BACKOFF_BASE_S, cap=settings.SOS_BACKOFF_MAX_S)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP_S))
    return delay


def _job(row: Delivery) -> Job:
    alert, method = row.alert, row.method
    refuse = ""
    if method is None:
        refuse = "The contact method was deleted"
    elif not method.is_enabled and not alert.is_test:
        refuse = "The contact method is disabled"
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
    due = Delivery.objects.filter(
        state=State.PENDING, next_attempt_at__lte=now, alert__status=Alert.Status.OPEN
    ).order_by("priority", "next_attempt_at", "id")
    if connection.features.has_select_for_update_skip_locked:
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
    rows = Delivery.objects.filter(lease_token=token, state=State.SENDING).select_related(
        "alert", "method"
    )
    return retry_if_locked(lambda: [_job(row) for row in rows])


def requeue_expired_leases(*, now: datetime) -> int:
    """A worker died mid-send: its rows are due again (or failed, after the last attempt)."""
    expired = retry_if_locked(
        lambda: list(
            Delivery.objects.filter(state=State.SENDING, lease_until__lt=now).values_list(
                "id", "alert_id", "attempts", "alert__status"
            )[:500]
        )
    )
    count = 0
    for pk, alert_id, attempts, alert_status in expired:
        if alert_status != Alert.Status.OPEN:
            change = {"state": State.CANCELLED, "closed_at": now}
        elif attempts >= settings.SOS_MAX_ATTEMPTS:
            change = {
                "state": State.FAILED,
                "closed_at": now,
                "last_error": "The worker was lost during the last attempt; the outcome is unknown",
            }
        else:
            change = {"state": State.PENDING, "next_attempt_at": now}
        count += retry_if_locked(
            lambda p=pk, a=alert_id, n=attempts, c=change: _requeue(p, a, n, c, now)
        )
    return count


def _requeue(pk: int, alert_id: int, attempts: int, change: dict, now: datetime) -> int:
    with transaction.atomic():
        updated = Delivery.objects.filter(pk=pk, state=State.SENDING, lease_until__lt=now).update(
            lease_token="", lease_until=None, **change
        )
        if updated:
            AlertEvent.objects.create(
                alert_id=alert_id,
                delivery_id=pk,
                kind=AlertEvent.Kind.LEASE_EXPIRED,
                message=f"Lease expired during attempt {attempts}",
                data={"attempt": attempts, "from": State.SENDING, "to": change["state"]},
            )
    return updated


def record_outcomes(outcomes: list[Outcome], *, now: datetime, report: PassReport) -> None:
    """Write the outcomes; through a database outage too, while their leases hold: a send
    whose outcome is lost is sent again once its lease runs out."""
    counts = PassReport()
    retry_if_locked(lambda: _record(outcomes, now, counts), until=_lease_deadline(outcomes))
    for field in ("sent", "retrying", "failed", "stale", "released"):
        setattr(report, field, getattr(report, field) + getattr(counts, field))


def _lease_deadline(outcomes: list[Outcome]) -> float:
    """The time.monotonic() until which these outcomes may still be written: the first lease's
    end, less a margin for clocks that differ between the workers' hosts."""
    ends = [o.job.lease_until for o in outcomes if o.job.lease_until is not None]
    left = min((end - timezone.now()).total_seconds() for end in ends) if ends else 0.0
    return time.monotonic() + max(0.0, left - SEND_MARGIN_S)


def _record(outcomes: list[Outcome], now: datetime, report: PassReport) -> None:
    for field in ("sent", "retrying", "failed", "stale", "released"):
        setattr(report, field, 0)  # a retried step counts from zero again
    events: list[AlertEvent] = []
    succeeded: list[int] = []
    broken: list[tuple[int, str]] = []
    with transaction.atomic():
        for outcome in outcomes:
            job, error = outcome.job, outcome.error
            if outcome.released:
                if _release(job, now):
                    report.released += 1
                    logger.info(
                        "SOS delivery %s handed back unsent: its lease no longer covered a send",
                        job.delivery_id,
                    )
                continue
            data: dict[str, object] = {
                "attempt": job.attempt,
                "round": job.round,
                "duration_ms": outcome.duration_ms,
                "from": State.SENDING,
            }
            if error is None:
                provider_id = outcome.sent.provider_message_id if outcome.sent else ""
                change: dict[str, object] = {
                    "state": State.SENT,
                    "sent_at": now,
                    "provider_message_id": provider_id[:300],
                    "last_error": "",
                    "next_attempt_at": None,
                }
                data.update(outcome="sent", provider_message_id=provider_id)
                text = f"Sent (attempt {job.attempt})"
            elif not error.permanent and job.attempt < settings.SOS_MAX_ATTEMPTS:
                delay = retry_delay(job.attempt, error.retry_after)
                change = {
                    "state": State.PENDING,
                    "next_attempt_at": now + timedelta(seconds=delay),
                    "last_error": error.message,
                }
                data.update(outcome="transient", error=error.message, retry_in_s=round(delay, 3))
                text = f"Attempt {job.attempt} failed, retrying in {delay:.0f} s: {error.message}"
            else:
                reason = error.message
                if not error.permanent:
                    reason = f"Gave up after {job.attempt} attempts: {error.message}"
                change = {
                    "state": State.FAILED,
                    "closed_at": now,
                    "last_error": reason,
                    "next_attempt_at": None,
                }
                data.update(
                    outcome="permanent" if error.permanent else "gave_up", error=error.message
                )
                text = f"Failed: {reason}"
            updated = Delivery.objects.filter(
                pk=job.delivery_id, lease_token=job.lease_token, state=State.SENDING
            ).update(lease_token="", lease_until=None, **change)
            if updated:
                data["to"] = change["state"]
                _count(report, str(change["state"]))
                if error is None and job.method_id:
                    succeeded.append(job.method_id)
                elif change["state"] == State.FAILED and job.method_id and not job.refuse:
                    broken.append((job.method_id, str(change["last_error"])))
                if change["state"] == State.FAILED:
                    logger.warning(
                        "SOS delivery %s (%s to %s, alert %s) failed: %s",
                        job.delivery_id,
                        job.kind,
                        job.contact_name,
                        job.alert_id,
                        change["last_error"],
                    )
            else:
                # The lease was lost (expired and re-claimed, or the row was acknowledged or
                # cancelled meanwhile): the attempt is logged, the row is not touched.
                report.stale += 1
                data["stale"] = True
                text = f"Outcome of attempt {job.attempt} arrived after the lease was lost"
            events.append(
                AlertEvent(
                    alert_id=job.alert_id,
                    delivery_id=job.delivery_id,
                    kind=AlertEvent.Kind.ATTEMPT,
                    message=text[:500],
                    data=data,
                )
            )
        AlertEvent.objects.bulk_create(events)
        if succeeded:
            ContactMethod.objects.filter(id__in=set(succeeded)).update(
                last_success_at=now, last_error=""
            )
        for method_id, message in broken:
            ContactMethod.objects.filter(id=method_id).update(last_error=message, last_error_at=now)


def _count(report: PassReport, state: str) -> None:
    if state == State.SENT:
        report.sent += 1
    elif state == State.PENDING:
        report.retrying += 1
    else:
        report.failed += 1


def _release(job: Job, now: datetime) -> int:
    """Hand a claimed row back unsent, due again at once, if this claim still holds it."""
    return Delivery.objects.filter(
        pk=job.delivery_id, lease_token=job.lease_token, state=State.SENDING
    ).update(
        state=State.PENDING,
        lease_token="",
        lease_until=None,
        attempts=F("attempts") - 1,
        next_attempt_at=now,
    )


def release_unstarted(inflight: dict[Future[Outcome], Job], now: datetime) -> None:
    """On stop, hand back claimed rows whose send has not started: due again at once."""
    for future, job in list(inflight.items()):
        if not future.cancel():
            continue  # running: it finishes and its outcome is recorded
        inflight.pop(future)
        outcome = Outcome(job, None, None, 0, released=True)
        retry_if_locked(lambda j=job: _release(j, now), until=_lease_deadline([outcome]))
