"""The hand-over of outcomes from the send threads to the coordinating thread.

A send thread hands its outcome over as soon as its send returns and waits until the outcome
is written before it takes its next job, so a crash of the worker re-sends at most one send per
thread: the sends in flight. The coordinating thread writes the outcomes waiting in one
transaction (outcomes.py), after a few milliseconds at most for the other running sends, so the
cost of a statement is shared by the sends that finish together, and no outcome waits for a
batch to fill. When that batch write fails for good, each outcome is written on its own; when
the pass stops on an error, the outcomes of the sends still running are written until their
leases end.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime

from django.db import DatabaseError, connection

from modules.sos.outbox.job import Job
from modules.sos.outbox.outcomes import Outcome, PassReport, record_outcomes

logger = logging.getLogger("modules.sos.dispatch")
PAUSE_S = 0.25


class Handoff:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Outcome, threading.Event]] = queue.SimpleQueue()
        self._closed = threading.Event()

    def hand_over(self, outcome: Outcome, *, wait_s: float) -> None:
        """In a send thread: queue the outcome; return once it is written (or after `wait_s`,
        when writing it can no longer help: the lease has run out, another worker may resend)."""
        written = threading.Event()
        self._queue.put((outcome, written))
        if not self._closed.is_set():
            written.wait(wait_s)

    def take(
        self, *, timeout: float, gather_s: float = 0.0, enough: int = 1
    ) -> list[tuple[Outcome, threading.Event]]:
        """In the coordinating thread: the outcomes waiting, after at most `timeout` for one;
        then up to `gather_s` more for others, until `enough` are here."""
        try:
            items = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        until = time.monotonic() + gather_s
        while True:
            try:
                items.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            left = until - time.monotonic()
            if len(items) >= enough or left <= 0:
                return items
            try:
                items.append(self._queue.get(timeout=left))
            except queue.Empty:
                return items

    @staticmethod
    def release(items: list[tuple[Outcome, threading.Event]]) -> None:
        for _, written in items:
            written.set()

    def close(self) -> None:
        """The coordinating thread stops: no send thread waits for it any more."""
        self._closed.set()
        while True:
            try:
                self._queue.get_nowait()[1].set()
            except queue.Empty:
                return


def write_handed(
    handed: list[tuple[Outcome, threading.Event]],
    inflight: dict[Future[None], Job],
    futures: dict[tuple[int, str], Future[None]],
    clock: Callable[[], datetime],
    report: PassReport,
) -> None:
    """Write the handed outcomes and forget their futures (and those that ended without one)."""
    try:
        if handed:
            _record_all([o for o, _ in handed], clock, report)
    finally:
        Handoff.release(handed)
    for outcome, _ in handed:
        future = futures.pop((outcome.job.delivery_id, outcome.job.lease_token), None)
        if future is not None:
            inflight.pop(future, None)
    # Cancelled, crashed, or gave up waiting (lease over): its outcome, if any, is still queued.
    for future in [f for f in inflight if f.done()]:
        job = inflight.pop(future)
        futures.pop((job.delivery_id, job.lease_token), None)


def _record_all(outcomes: list[Outcome], clock: Callable[[], datetime], report: PassReport) -> None:
    """record_outcomes(); when the batch fails for a reason retrying cannot fix (a deadlock, a
    statement timeout, a read-only failover), each outcome is written on its own, so one bad
    row does not lose the others' sends."""
    try:
        record_outcomes(outcomes, now=clock(), report=report)
        return
    except DatabaseError:
        logger.exception("SOS dispatch: writing %s outcomes failed; one by one", len(outcomes))
    if not connection.in_atomic_block:
        connection.close()  # a connection left in a failed state
    for outcome in outcomes:
        try:
            record_outcomes([outcome], now=clock(), report=report)
        except DatabaseError:
            logger.exception("SOS dispatch: outcome of delivery %s lost", outcome.job.delivery_id)


def write_rest(
    handoff: Handoff,
    inflight: dict[Future[None], Job],
    futures: dict[tuple[int, str], Future[None]],
    clock: Callable[[], datetime],
    lease_clock: Callable[[], datetime],
    report: PassReport,
) -> None:
    """After an error left the pass: keep writing the outcomes of the sends still running
    until their leases end, or they would all be sent again (a write that fails is logged)."""
    ends = [job.lease_until for job in inflight.values() if job.lease_until is not None]
    latest = max(ends) if ends else None
    while inflight and latest is not None and lease_clock() < latest:
        handed = handoff.take(timeout=PAUSE_S)
        try:
            write_handed(handed, inflight, futures, clock, report)
        except Exception:
            logger.exception("SOS dispatch: writing outcomes after an error failed")
            if not connection.in_atomic_block:
                connection.close()
            time.sleep(PAUSE_S)
