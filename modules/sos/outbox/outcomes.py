"""Outcomes written back: one transaction for the outcomes at hand, only for the rows whose
lease the sender still holds, with an event naming the recipient for each attempt.

Retries back off exponentially with jitter. Outcomes that arrive together are written
together, so writing each outcome as soon as its send returns stays cheap when many sends
return at once: on PostgreSQL in one statement (pg_bulk.py), elsewhere with one UPDATE (a CASE
per column) and one INSERT of their events.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from modules.sos.channels import ChannelError, Sent
from modules.sos.models import AlertEvent, ContactMethod, Delivery
from modules.sos.outbox.job import Job
from modules.sos.outbox.leases import SEND_MARGIN_S
from modules.sos.outbox.locking import retry_if_locked
from modules.sos.outbox.pg_bulk import HeldWrite, update_leased, write_outcomes

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

    def add(self, other: PassReport) -> None:
        for field, value in asdict(other).items():
            setattr(self, field, getattr(self, field) + value)


@dataclass(frozen=True)
class Outcome:
    job: Job
    sent: Sent | None
    error: ChannelError | None
    duration_ms: int
    released: bool = False  # not sent: the row goes back to pending, the attempt uncounted
    # Due again at this time rather than at once (the rate governor's budget is busy).
    retry_at: datetime | None = None


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


@dataclass(frozen=True)
class Recipient:
    """Who a delivery goes to, as the event log names them: "Email to Alice Smith"."""

    contact_name: str
    kind: str

    def __str__(self) -> str:
        return f"{CHANNEL_NAMES.get(self.kind, self.kind)} to {self.contact_name}"

    def data(self) -> dict[str, str]:
        return {"recipient": self.contact_name, "channel": self.kind}


CHANNEL_NAMES = {"email": "Email", "sms": "SMS", "webhook": "Webhook", "apprise": "Apprise"}


@dataclass
class _Plan:
    """What one outcome changes on its row, and the event that tells it."""

    outcome: Outcome
    who: Recipient
    change: dict[str, Any]
    data: dict[str, Any]
    text: str
    held: bool = False


def record_outcomes(outcomes: list[Outcome], *, now: datetime, report: PassReport) -> None:
    """Write the outcomes; through a database outage too, while their leases hold: a send
    whose outcome is lost is sent again once its lease runs out."""
    counts = PassReport()
    retry_if_locked(lambda: _record(outcomes, now, counts), until=_lease_deadline(outcomes))
    for field in ("sent", "retrying", "failed", "stale", "released"):
        setattr(report, field, getattr(report, field) + getattr(counts, field))


def _lease_deadline(outcomes: list[Outcome]) -> float:
    """The time.monotonic() until which these outcomes may still be written: the last lease's
    end, less a margin for clocks that differ between the workers' hosts."""
    ends = [o.job.lease_until for o in outcomes if o.job.lease_until is not None]
    # The latest lease: an outcome whose lease ended is refused by its row (token check), so
    # retrying for the others is safe, and one outcome near its end must not stop them.
    left = max((end - timezone.now()).total_seconds() for end in ends) if ends else 0.0
    return time.monotonic() + max(0.0, left - SEND_MARGIN_S)


def _record(outcomes: list[Outcome], now: datetime, report: PassReport) -> None:
    for name in ("sent", "retrying", "failed", "stale", "released"):
        setattr(report, name, 0)  # a retried step counts from zero again
    plans = [_plan(outcome, now) for outcome in outcomes if not outcome.released]
    if (
        connection.vendor == "postgresql"
        and len(plans) == len(outcomes)
        and len({tuple(sorted(plan.change)) for plan in plans}) == 1
    ):
        # The common case (outcomes of one kind, nothing handed back): rows, events and
        # contact methods in one statement, which is a transaction of its own (pg_bulk.py).
        held = write_outcomes(
            [
                HeldWrite(
                    delivery_id=plan.outcome.job.delivery_id,
                    lease_token=plan.outcome.job.lease_token,
                    change=plan.change,
                    alert_id=plan.outcome.job.alert_id,
                    text=plan.text[:500],
                    data={**plan.data, "to": plan.change["state"]},
                    method=_method_mark(plan),
                )
                for plan in plans
            ],
            now=now,
        )
        for plan in plans:
            plan.held = (plan.outcome.job.delivery_id, plan.outcome.job.lease_token) in held
        adopted = _settle(plans, report, now)
        if stale := [plan for plan in plans if not plan.held] + adopted:
            AlertEvent.objects.bulk_create([_event(plan) for plan in stale])
        return
    with transaction.atomic():
        for outcome in outcomes:
            if outcome.released and _release(outcome.job, now, at=outcome.retry_at):
                report.released += 1
                logger.info(
                    "SOS delivery %s handed back unsent: %s",
                    outcome.job.delivery_id,
                    "its rate budget is busy (governor.py)"
                    if outcome.retry_at
                    else "its lease no longer covered a send",
                )
        if not plans:
            return
        _apply(plans)
        _settle(plans, report, now)
        AlertEvent.objects.bulk_create([_event(plan) for plan in plans])
        marks = [mark for plan in plans if plan.held and (mark := _method_mark(plan))]
        succeeded = {pk for pk, error in marks if error is None}
        errors = {pk: error for pk, error in marks if error is not None}  # the last one wins
        if succeeded:
            ContactMethod.objects.filter(id__in=succeeded).update(
                last_success_at=now, last_error=""
            )
        if errors:
            ContactMethod.objects.filter(id__in=errors).update(
                last_error=Case(
                    *(When(id=pk, then=Value(text)) for pk, text in errors.items()),
                    output_field=ContactMethod._meta.get_field("last_error"),
                ),
                last_error_at=now,
            )


def _settle(plans: list[_Plan], report: PassReport, now: datetime) -> list[_Plan]:
    """Count and log the written outcomes; mark the ones whose lease was lost as stale.

    Returns the sends adopted after their lease lapsed (see _adopt_sent)."""
    adopted = []
    for plan in plans:
        job, state = plan.outcome.job, plan.change["state"]
        if not plan.held and state == State.SENT and _adopt_sent(plan):
            plan.held = True
            adopted.append(plan)
        if not plan.held:
            # The lease was lost (expired and re-claimed, or the row was acknowledged or
            # cancelled meanwhile): the attempt is logged, the row is not touched.
            report.stale += 1
            plan.data["stale"] = True
            plan.text = (
                f"{plan.who}: outcome of attempt {job.attempt} arrived after the lease was lost"
            )
            continue
        plan.data["to"] = state
        _count(report, state)
        _log(plan)
    return adopted


def _adopt_sent(plan: _Plan) -> bool:
    """A send that succeeded after its lease lapsed, on a row handed back but not yet claimed
    again (same attempt, no lease): record it as sent, or the next claim sends it again."""
    job = plan.outcome.job
    return bool(
        Delivery.objects.filter(
            pk=job.delivery_id, state=State.PENDING, attempts=job.attempt, lease_token=""
        ).update(**plan.change)
    )


def _event(plan: _Plan) -> AlertEvent:
    return AlertEvent(
        alert_id=plan.outcome.job.alert_id,
        delivery_id=plan.outcome.job.delivery_id,
        kind=AlertEvent.Kind.ATTEMPT,
        message=plan.text[:500],
        data=plan.data,
    )


def _method_mark(plan: _Plan) -> tuple[int, str | None] | None:
    """What a held outcome says about its contact method: (id, None) it works, (id, error) it
    failed for a reason of its own, None nothing."""
    job, error = plan.outcome.job, plan.outcome.error
    if not job.method_id:
        return None
    if error is None:
        return job.method_id, None
    if plan.change["state"] == State.FAILED and not _setup_fault(plan.outcome):
        return job.method_id, plan.change["last_error"]
    return None


def _setup_fault(outcome: Outcome) -> bool:
    """Failed for a reason that is not the address's: the contact method stays unmarked."""
    error = outcome.error
    return bool(outcome.job.refuse) or (error is not None and error.configuration)


def _plan(outcome: Outcome, now: datetime) -> _Plan:
    job, error = outcome.job, outcome.error
    who = Recipient(job.contact_name, job.kind)
    data: dict[str, Any] = {
        "attempt": job.attempt,
        "round": job.round,
        "duration_ms": outcome.duration_ms,
        "from": State.SENDING,
        **who.data(),
    }
    if error is None:
        provider_id = outcome.sent.provider_message_id if outcome.sent else ""
        change: dict[str, Any] = {
            "state": State.SENT,
            "sent_at": now,
            "provider_message_id": provider_id[:300],
            "last_error": "",
            "next_attempt_at": None,
        }
        data.update(outcome="sent", provider_message_id=provider_id)
        text = f"{who}: sent (attempt {job.attempt})"
    elif not error.permanent and job.attempt < settings.SOS_MAX_ATTEMPTS:
        delay = retry_delay(job.attempt, error.retry_after)
        change = {
            "state": State.PENDING,
            "next_attempt_at": now + timedelta(seconds=delay),
            "last_error": error.message,
        }
        data.update(outcome="transient", error=error.message, retry_in_s=round(delay, 3))
        text = f"{who}: attempt {job.attempt} failed, retrying in {delay:.0f} s: {error.message}"
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
        data.update(outcome="permanent" if error.permanent else "gave_up", error=error.message)
        text = f"{who}: failed: {reason}"
    return _Plan(outcome, who, change, data, text)


def _apply(plans: list[_Plan]) -> None:
    """Write the changes of the rows whose lease these claims still hold; mark those `held`."""
    if connection.vendor == "postgresql":
        held = update_leased(
            [(p.outcome.job.delivery_id, p.outcome.job.lease_token, p.change) for p in plans]
        )
        for plan in plans:
            plan.held = plan.outcome.job.delivery_id in held
        return
    if len(plans) == 1:
        plan = plans[0]
        job = plan.outcome.job
        plan.held = bool(
            Delivery.objects.filter(
                pk=job.delivery_id, lease_token=job.lease_token, state=State.SENDING
            ).update(lease_token="", lease_until=None, **plan.change)
        )
        return
    claimed = Q()
    for plan in plans:
        claimed |= Q(pk=plan.outcome.job.delivery_id, lease_token=plan.outcome.job.lease_token)
    # Locked until the transaction ends (PostgreSQL; SQLite holds its one write lock).
    leases = set(
        Delivery.objects.select_for_update()
        .filter(claimed, state=State.SENDING)
        .values_list("id", "lease_token")
    )
    held = {pk for pk, _ in leases}
    # By id and token: one row may have two outcomes here (an earlier claim's came late).
    mine = [p for p in plans if (p.outcome.job.delivery_id, p.outcome.job.lease_token) in leases]
    for plan in mine:
        plan.held = True
    if not mine:
        return
    columns: dict[str, Any] = {}
    for name in sorted({name for plan in mine for name in plan.change}):
        column = Delivery._meta.get_field(name)
        cases = [
            When(pk=plan.outcome.job.delivery_id, then=Value(plan.change[name], column))
            for plan in mine
            if name in plan.change
        ]
        columns[name] = Case(*cases, default=F(name), output_field=column)
    Delivery.objects.filter(pk__in=held).update(lease_token="", lease_until=None, **columns)


def _log(plan: _Plan) -> None:
    job, state = plan.outcome.job, plan.change["state"]
    if state == State.FAILED:
        logger.warning(
            "SOS delivery %s (%s, alert %s) failed: %s",
            job.delivery_id,
            plan.who,
            job.alert_id,
            plan.change["last_error"],
        )
    elif state == State.PENDING:
        logger.info(
            "SOS delivery %s (%s, alert %s) attempt %s failed: %s",
            job.delivery_id,
            plan.who,
            job.alert_id,
            job.attempt,
            plan.change["last_error"],
        )


def _count(report: PassReport, state: str) -> None:
    if state == State.SENT:
        report.sent += 1
    elif state == State.PENDING:
        report.retrying += 1
    else:
        report.failed += 1


def _release(job: Job, now: datetime, *, at: datetime | None = None) -> int:
    """Hand a claimed row back unsent, due again at once (or `at`), if this claim holds it."""
    return Delivery.objects.filter(
        pk=job.delivery_id, lease_token=job.lease_token, state=State.SENDING
    ).update(
        state=State.PENDING,
        lease_token="",
        lease_until=None,
        attempts=F("attempts") - 1,
        next_attempt_at=at or now,
    )
