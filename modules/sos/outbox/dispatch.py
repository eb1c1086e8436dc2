"""The dispatcher: claim due deliveries with a lease, send on a bounded pool, record outcomes.

Every runner (the in-process wake thread, `sos_worker`, Zappa's async task and its scheduled
sweep) calls the same `process_due_deliveries()`; a lost wake-up only delays work, since the
rows say what is due. Sends happen outside any transaction; a send starts only while the
row's lease still covers it (leases.py), and an outcome is written only while the worker still
holds the lease, so a worker that lost its lease neither sends again nor overwrites.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
)
from django.utils import timezone

from modules.sos.channels import ChannelError, ChannelSet, Sent, Target
from modules.sos.models import Alert, Delivery
from modules.sos.outbox.claims import (
    Outcome,
    PassReport,
    claim_due,
    release_unstarted,
    requeue_expired_leases,
)
from modules.sos.outbox.governor import governor_wait  # rate governor
from modules.sos.outbox.job import Job
from modules.sos.outbox.leases import (
    SEND_MARGIN_S,
    check_lease_settings,
    claim_rounds,
    lease_covers_send,
    min_lease_s,
    send_timeout_s,
)
from modules.sos.outbox.locking import retry_if_locked
from modules.sos.outbox.rendering import render_message
from modules.sos.outbox.writeback import Handoff, write_handed, write_rest

logger = logging.getLogger("modules.sos.dispatch")

State = Delivery.State
EMPTY_CLAIM_PAUSE_S = 0.25
# Expired leases are handed back this often during a pass, not only at its start: a crashed
# worker's rows are due again within SEND_MARGIN_S + RECLAIM_S (1.5 s) of their lease's end,
# whatever the backlog.
RECLAIM_S = 0.5
ESCALATE_S = 5.0
# A write waits this long at most for the other running sends' outcomes, so that one statement
# writes several (a statement costs the database more than the rows it writes); the send
# threads wait for it anyway, so the doubles a crash can cause stay the sends in flight.
WRITE_GATHER_S = 0.010


def default_channels() -> ChannelSet:
    from modules.sos.channels.apprise import AppriseChannel
    from modules.sos.channels.email import DjangoEmailChannel, SesEmailChannel
    from modules.sos.channels.sms import SnsSmsChannel
    from modules.sos.channels.webhook import WebhookChannel
    from portal.egress import get_policy

    timeout = settings.SOS_SEND_TIMEOUT_S
    region = settings.SOS_AWS_REGION

    def email() -> object:
        choice = settings.SOS_EMAIL_BACKEND
        if choice == "ses":
            return SesEmailChannel(
                from_email=settings.SOS_EMAIL_FROM,
                region=region,
                timeout=timeout,
                configuration_set=settings.SOS_SES_CONFIGURATION_SET,
                endpoint_url=settings.AWS_ENDPOINT_URL,
            )
        backend = settings.EMAIL_BACKEND if choice == "default" else choice
        return DjangoEmailChannel(
            backend=backend, from_email=settings.SOS_EMAIL_FROM, timeout=send_timeout_s()
        )

    return ChannelSet(
        {
            "email": email,  # type: ignore[dict-item]
            "sms": lambda: SnsSmsChannel(
                region=region,
                timeout=timeout,
                sender_id=settings.SOS_SMS_SENDER_ID,
                max_segments=settings.SOS_SMS_MAX_SEGMENTS,
                endpoint_url=settings.AWS_ENDPOINT_URL,
            ),
            "webhook": lambda: WebhookChannel(timeout=timeout, policy=get_policy()),
            "apprise": lambda: AppriseChannel(timeout=timeout, policy=get_policy()),
        }
    )


def send_job(
    channels: ChannelSet,
    job: Job,
    *,
    now: Callable[[], datetime] = timezone.now,
    needed_lease_s: float | None = None,
    workers: int | None = None,
) -> Outcome:
    """Runs in a send thread: no database access here.

    A job that waited in the queue until its lease no longer covers a whole send is not sent
    (`Outcome.released`): another worker may take the row over when the lease runs out.
    """
    needed = min_lease_s() if needed_lease_s is None else needed_lease_s
    if not lease_covers_send(job.lease_until, now(), needed):
        return Outcome(job, None, None, 0, released=True)
    started = time.monotonic()
    sent: Sent | None = None
    error: ChannelError | None = None
    try:
        if job.refuse:
            raise ChannelError(job.refuse, permanent=True)
        message = render_message(job)
        target = Target(job.kind, job.address, job.secret)
        # Rate governor (governor.py): wait for this channel's and sender's turn only while the
        # lease would still cover the send; otherwise the row is handed back unsent.
        turn = governor_wait(job, target, message, now=now, needed_lease_s=needed, workers=workers)
        if not turn.go:
            return Outcome(job, None, None, 0, released=True, retry_at=turn.retry_at)
        sent = channels.send(target, message)
    except ChannelError as exc:
        error = exc
    except Exception as exc:  # a bug in a sender must not stop the pass; it is retried
        logger.exception("Sender for %s crashed on delivery %s", job.kind, job.delivery_id)
        error = ChannelError(f"Internal error: {type(exc).__name__}: {exc}", permanent=False)
    return Outcome(job, sent, error, int((time.monotonic() - started) * 1000))


@dataclass(frozen=True)
class _Pass:
    workers: int
    rounds: int  # sends claimed per worker at most: the lease covers that queue (leases.py)
    clock: Callable[[], datetime]  # the database's "now" (pinned in tests)
    lease_clock: Callable[[], datetime]  # advances with real time, also when `now` is pinned
    needed_lease_s: float
    deadline: float
    stop: threading.Event | None
    beat: Callable[[], None] | None  # the worker's heartbeat (heartbeat.py)


def _drain(pool: ThreadPoolExecutor, channels: ChannelSet, run: _Pass, report: PassReport) -> None:
    """Keep the pool fed from claims, write each outcome as soon as its send returns, and hand
    back expired leases every RECLAIM_S.

    Claims are refilled when half the claimed rounds are left, so the workers seldom wait on
    the database. Outcomes are not held back to fill a batch: the outcomes that arrived are
    written within WRITE_GATHER_S, and their threads wait for that before sending more
    (writeback.py).
    Every turn first writes the outcomes already waiting, before anything else touches the
    database: a slow reclaim, escalation or claim must not outlast a finished send's lease.
    """
    workers, clock, stop = run.workers, run.clock, run.stop
    batch = run.rounds * workers
    handoff = Handoff()
    # Keyed by future: the same row may be claimed again (its earlier lease lost) while the
    # earlier send's future is still here; (delivery_id, lease_token) finds a handed outcome's.
    inflight: dict[Future[None], Job] = {}
    futures: dict[tuple[int, str], Future[None]] = {}
    last_empty = -EMPTY_CLAIM_PAUSE_S
    last_reclaim = time.monotonic()
    last_escalation = time.monotonic()
    try:
        while True:
            if run.beat is not None and _within_leases(inflight.values(), run.lease_clock()):
                run.beat()
            if inflight:
                write_handed(handoff.take(timeout=0), inflight, futures, run.clock, report)
            now_s = time.monotonic()
            claiming = not (stop and stop.is_set()) and now_s < run.deadline
            if not claiming and inflight:
                release_unstarted(inflight, clock())
            if claiming and now_s - last_reclaim >= RECLAIM_S:
                last_reclaim = now_s
                mine = {job.delivery_id for job in inflight.values()}
                due_again = _reclaim(clock(), report, skip=mine)
                # Escalation steps fall due during a long pass too: run them here, not only
                # at the next pass's start behind the whole backlog (every ESCALATE_S: each
                # worker runs it, and its queries are not free).
                if now_s - last_escalation >= ESCALATE_S:
                    last_escalation = now_s
                    due_again += _escalate_due(clock(), report)
                if due_again:
                    last_empty = -EMPTY_CLAIM_PAUSE_S  # rows are due again: claim them now
            if (
                claiming
                and len(inflight) <= batch // 2
                and now_s - last_empty >= EMPTY_CLAIM_PAUSE_S
            ):
                jobs = _claim(clock(), batch - len(inflight), bool(inflight))
                if not jobs:
                    last_empty = time.monotonic()
                report.claimed += len(jobs)
                for job in jobs:
                    future = pool.submit(_send, channels, job, run, handoff)
                    inflight[future] = job
                    futures[(job.delivery_id, job.lease_token)] = future
            if inflight:
                handed = handoff.take(
                    timeout=EMPTY_CLAIM_PAUSE_S,
                    gather_s=WRITE_GATHER_S,
                    enough=min(workers, len(inflight)),  # the sends that can be running
                )
                write_handed(handed, inflight, futures, run.clock, report)
            else:
                drained = time.monotonic() - last_empty < EMPTY_CLAIM_PAUSE_S
                if drained or not claiming:
                    return
    finally:
        # On the way out by an error: what has not started stays unsent (its lease runs out
        # and another pass takes it); the sends already running still get their outcomes
        # written while their leases last, or they would be sent again.
        for future in inflight:
            future.cancel()
        try:
            write_rest(handoff, inflight, futures, run.clock, run.lease_clock, report)
        finally:
            handoff.close()


def _send(channels: ChannelSet, job: Job, run: _Pass, handoff: Handoff) -> None:
    outcome = send_job(
        channels, job, now=run.lease_clock, needed_lease_s=run.needed_lease_s, workers=run.workers
    )
    left = (job.lease_until - run.lease_clock()).total_seconds() if job.lease_until else 60.0
    handoff.hand_over(outcome, wait_s=max(0.1, left))


def _claim(now: datetime, limit: int, busy: bool) -> list[Job]:
    try:
        return claim_due(now=now, limit=limit)
    except (OperationalError, InterfaceError):
        if not busy:
            raise  # nothing at stake: the runner waits and starts a new pass
        # Sends in flight still get their outcomes written (record_outcomes retries while
        # their leases hold); rows claimed just now come back when theirs end.
        logger.warning("SOS dispatch: claiming failed, the database is unreachable")
        connection.close()
        return []


def _reclaim(now: datetime, report: PassReport, *, skip: set[int]) -> int:
    """requeue_expired_leases() within a pass; a database hiccup only delays it a second."""
    try:
        count = requeue_expired_leases(now=now, skip=skip)
    except (OperationalError, InterfaceError):
        logger.warning("SOS dispatch: reclaiming expired leases failed; trying again shortly")
        connection.close()
        return 0
    report.expired += count
    return count


def _escalate_due(now: datetime, report: PassReport) -> int:
    """alerts_escalate_due() within a pass; its failure must not stop the sends already due."""
    from modules.sos.outbox.escalation import alerts_escalate_due  # it imports this module

    try:
        waves = alerts_escalate_due(now=now)
    except Exception:
        logger.exception("SOS escalation runner failed; sending what is due")
        return 0
    report.reminders += waves
    return waves


def _within_leases(jobs: Iterable[Job], now: datetime) -> bool:
    """No send in flight has outlived its lease, the deadline every send is given."""
    return all(job.lease_until is None or job.lease_until > now for job in jobs)


def process_due_deliveries(
    *,
    now: datetime | None = None,
    channels: ChannelSet | None = None,
    workers: int | None = None,
    max_seconds: float | None = None,
    stop: threading.Event | None = None,
    beat: Callable[[], None] | None = None,
) -> PassReport:
    """Send everything due now; returns when nothing due is left (or at `max_seconds`/`stop`).

    `now` pins the clock (tests); rows that fail transiently are due again later and left for
    the next pass. `beat` is called on every turn of the pass while no send in flight has
    outlived its lease. Raises ImproperlyConfigured when SOS_LEASE_S cannot cover one send.
    """
    check_lease_settings()
    started = time.monotonic()

    def clock() -> datetime:
        return now or timezone.now()

    def lease_clock() -> datetime:
        return now + timedelta(seconds=time.monotonic() - started) if now else timezone.now()

    workers = workers or settings.SOS_WORKERS
    run = _Pass(
        workers=workers,
        rounds=claim_rounds(lease_s=settings.SOS_LEASE_S, timeout_s=send_timeout_s()),
        clock=clock,
        lease_clock=lease_clock,
        needed_lease_s=min_lease_s(),
        deadline=started + (max_seconds if max_seconds is not None else float("inf")),
        stop=stop,
        beat=beat,
    )
    report = PassReport()
    report.expired = requeue_expired_leases(now=clock())
    _escalate_due(clock(), report)  # reminders and escalation steps
    own = channels is None
    channels = channels or default_channels()
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sos-send") as pool:
            _drain(pool, channels, run, report)
    finally:
        if own:
            channels.close()
    if report.claimed or report.expired or report.reminders or report.released:
        logger.info("SOS dispatch pass: %s", report.as_dict())
    return report


def seconds_until_due(*, now: datetime | None = None) -> float | None:
    """When the next row becomes due (retry, lease expiry, reminder or escalation step); None if
    nothing waits."""
    now = now or timezone.now()
    # The rows claim_due, requeue_expired_leases and alerts_escalate_due take once due; an
    # expired lease is handed back SEND_MARGIN_S after its end.
    fields = {
        "next_attempt_at": (Delivery.objects.pending(), 0.0),
        "lease_until": (Delivery.objects.leased(), SEND_MARGIN_S),
        "next_reminder_at": (Alert.objects.reminders_pending(), 0.0),
        "next_escalation_at": (Alert.objects.escalation_pending(), 0.0),
    }

    def earliest() -> list[datetime]:
        found = []
        for name, (rows, after_s) in fields.items():
            at = rows.order_by(name).values_list(name, flat=True).first()
            if at is not None:
                found.append(at + timedelta(seconds=after_s))
        return found

    times = retry_if_locked(earliest)
    if not times:
        return None
    return max(0.0, (min(times) - now).total_seconds())


def refresh_connections() -> None:
    """Drop database connections that died or aged out, between passes of a long runner.

    Skipped inside a transaction (a caller's, or a test's), where closing would break it.
    """
    if not connection.in_atomic_block:
        close_old_connections()
