"""The dispatcher: claim due deliveries with a lease, send on a bounded pool, record outcomes.

Every runner (the in-process wake thread, `sos_worker`, Zappa's async task and its scheduled
sweep) calls the same `process_due_deliveries()`; a lost wake-up only delays work, since the
rows say what is due. Sends happen outside any transaction; an outcome is written only while
the worker still holds the row's lease, so a worker that lost its lease cannot overwrite.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from modules.sos.channels import ChannelError, ChannelSet, Sent, Target
from modules.sos.claims import (
    Outcome,
    PassReport,
    claim_due,
    record_outcomes,
    release_unstarted,
    requeue_expired_leases,
)
from modules.sos.locking import retry_if_locked
from modules.sos.models import Alert, Delivery
from modules.sos.rendering import Job, render_message

logger = logging.getLogger("modules.sos.dispatch")

State = Delivery.State
EMPTY_CLAIM_PAUSE_S = 0.25
CLAIM_ROUNDS = 4  # claim up to this many sends per worker; the lease covers the queue wait
FLUSH_S = 0.05  # outcomes are written back at least this often

__all__ = [
    "Outcome",
    "PassReport",
    "claim_due",
    "default_channels",
    "process_due_deliveries",
    "record_outcomes",
    "requeue_expired_leases",
    "seconds_until_due",
    "send_job",
]


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
            )
        backend = settings.EMAIL_BACKEND if choice == "default" else choice
        return DjangoEmailChannel(backend=backend, from_email=settings.SOS_EMAIL_FROM)

    return ChannelSet(
        {
            "email": email,  # type: ignore[dict-item]
            "sms": lambda: SnsSmsChannel(
                region=region,
                timeout=timeout,
                sender_id=settings.SOS_SMS_SENDER_ID,
                max_segments=settings.SOS_SMS_MAX_SEGMENTS,
            ),
            "webhook": lambda: WebhookChannel(timeout=timeout, policy=get_policy()),
            "apprise": lambda: AppriseChannel(timeout=timeout, policy=get_policy()),
        }
    )


def send_job(channels: ChannelSet, job: Job) -> Outcome:
    """Runs in a send thread: no database access here."""
    started = time.monotonic()
    sent: Sent | None = None
    error: ChannelError | None = None
    try:
        if job.refuse:
            raise ChannelError(job.refuse, permanent=True)
        message = render_message(job)
        sent = channels.send(Target(job.kind, job.address, job.secret), message)
    except ChannelError as exc:
        error = exc
    except Exception as exc:  # a bug in a sender must not stop the pass; it is retried
        logger.exception("Sender for %s crashed on delivery %s", job.kind, job.delivery_id)
        error = ChannelError(f"Internal error: {type(exc).__name__}: {exc}", permanent=False)
    return Outcome(job, sent, error, int((time.monotonic() - started) * 1000))


def _drain(
    pool: ThreadPoolExecutor,
    channels: ChannelSet,
    workers: int,
    clock: Callable[[], datetime],
    deadline: float,
    stop: threading.Event | None,
    report: PassReport,
) -> None:
    """Keep the pool fed from claims and write outcomes back in small batches.

    Claims are refilled when fewer than two rounds of work are queued, so the workers never
    wait on the database; outcomes are written together every FLUSH_S, one transaction each.
    """
    inflight: dict[Future[Outcome], Job] = {}
    finished: list[Outcome] = []
    oldest = 0.0
    last_empty = -EMPTY_CLAIM_PAUSE_S
    while True:
        now_s = time.monotonic()
        claiming = not (stop and stop.is_set()) and now_s < deadline
        if not claiming and inflight:
            release_unstarted(inflight, clock())
        if claiming and len(inflight) <= 2 * workers and now_s - last_empty >= EMPTY_CLAIM_PAUSE_S:
            jobs = claim_due(now=clock(), limit=CLAIM_ROUNDS * workers - len(inflight))
            if not jobs:
                last_empty = time.monotonic()
            report.claimed += len(jobs)
            for job in jobs:
                inflight[pool.submit(send_job, channels, job)] = job
        if inflight:
            timeout = FLUSH_S if finished else EMPTY_CLAIM_PAUSE_S
            done, _ = wait(inflight, timeout=timeout, return_when=FIRST_COMPLETED)
            if done and not finished:
                oldest = time.monotonic()
            for future in done:
                inflight.pop(future)
                finished.append(future.result())
        if finished and (
            not inflight or len(finished) >= workers or time.monotonic() - oldest >= FLUSH_S
        ):
            record_outcomes(finished, now=clock(), report=report)
            finished = []
        if not inflight and not finished:
            drained = time.monotonic() - last_empty < EMPTY_CLAIM_PAUSE_S
            if drained or not claiming:
                return


def process_due_deliveries(
    *,
    now: datetime | None = None,
    channels: ChannelSet | None = None,
    workers: int | None = None,
    max_seconds: float | None = None,
    stop: threading.Event | None = None,
) -> PassReport:
    """Send everything due now; returns when nothing due is left (or at `max_seconds`/`stop`).

    `now` pins the clock (tests); rows that fail transiently are due again later and left for
    the next pass.
    """
    from modules.sos.reminders import alerts_remind_due

    def clock() -> datetime:
        return now or timezone.now()

    workers = workers or settings.SOS_WORKERS
    deadline = time.monotonic() + (max_seconds if max_seconds is not None else float("inf"))
    report = PassReport()
    report.expired = requeue_expired_leases(now=clock())
    report.reminders = alerts_remind_due(now=clock())
    own = channels is None
    channels = channels or default_channels()
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sos-send") as pool:
            _drain(pool, channels, workers, clock, deadline, stop, report)
    finally:
        if own:
            channels.close()
    if report.claimed or report.expired or report.reminders:
        logger.info("SOS dispatch pass: %s", report.as_dict())
    return report


def seconds_until_due(*, now: datetime | None = None) -> float | None:
    """When the next row becomes due (retry, lease expiry, reminder); None if nothing waits."""
    now = now or timezone.now()
    candidates = [
        Delivery.objects.filter(state=State.PENDING, alert__status=Alert.Status.OPEN)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True),
        Delivery.objects.filter(state=State.SENDING)
        .order_by("lease_until")
        .values_list("lease_until", flat=True),
        Alert.objects.filter(status=Alert.Status.OPEN, next_reminder_at__isnull=False)
        .order_by("next_reminder_at")
        .values_list("next_reminder_at", flat=True),
    ]
    times = [t for t in retry_if_locked(lambda: [q.first() for q in candidates]) if t]
    if not times:
        return None
    return max(0.0, (min(times) - now).total_seconds())


def refresh_connections() -> None:
    """Drop database connections that died or aged out, between passes of a long runner.

    Skipped inside a transaction (a caller's, or a test's), where closing would break it.
    """
    if not connection.in_atomic_block:
        close_old_connections()
