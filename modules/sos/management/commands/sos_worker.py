"""Deliver SOS alerts: a long-running loop (Kubernetes, a server), or `--once` to drain and exit.

SIGTERM and SIGINT stop claiming new deliveries; sends already in flight finish and are
recorded before the process exits, so a rolling restart loses and doubles nothing. A database
outage is waited out: outcomes of sends in flight are written when it returns, while their
leases hold, and the loop goes on by itself. With SOS_WORKER_HEARTBEAT set, the loop touches
that file while it makes progress (modules/sos/outbox/heartbeat.py: the liveness probe).
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import InterfaceError, OperationalError, connection

from modules.sos.outbox.claims import PassReport
from modules.sos.outbox.dispatch import (
    process_due_deliveries,
    refresh_connections,
    seconds_until_due,
)
from modules.sos.outbox.heartbeat import MIN_INTERVAL_S, Heartbeat

# An idle wait beats at least this often, whatever SOS_POLL_S says.
BEAT_SLICE_S = 5 * MIN_INTERVAL_S


def _wait(stop: threading.Event, seconds: float, heartbeat: Heartbeat) -> None:
    """stop.wait(seconds), beating along the way."""
    end = time.monotonic() + seconds
    while not stop.is_set():
        heartbeat.beat()
        left = end - time.monotonic()
        if left <= 0:
            return
        stop.wait(min(left, BEAT_SLICE_S))


class Command(BaseCommand):
    help = "Send due SOS deliveries, retry failures, send reminders (loop, or --once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Drain what is due, then exit.")
        parser.add_argument(
            "--workers", type=int, default=None, help="Send threads (default SOS_WORKERS)."
        )
        parser.add_argument(
            "--poll", type=float, default=None, help="Idle poll seconds (default SOS_POLL_S)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        workers = options["workers"]
        poll = options["poll"] or settings.SOS_POLL_S

        def shutdown(signum: int, frame: Any) -> None:
            if not stop.is_set():
                self.stderr.write(f"Signal {signum}: finishing sends in flight, then exiting")
            stop.set()

        previous = {sig: signal.signal(sig, shutdown) for sig in (signal.SIGTERM, signal.SIGINT)}
        total = PassReport()
        heartbeat = Heartbeat(None if options["once"] else settings.SOS_WORKER_HEARTBEAT)
        try:
            if not options["once"]:
                self.stdout.write(f"sos_worker: polling every {poll:g} s (SIGTERM to stop)")
            heartbeat.beat(force=True)  # a file left by a hung predecessor is stale
            while not stop.is_set():
                heartbeat.beat()
                refresh_connections()
                try:
                    report = process_due_deliveries(workers=workers, stop=stop, beat=heartbeat.beat)
                    wait = seconds_until_due()
                except (OperationalError, InterfaceError) as exc:
                    if options["once"]:
                        raise
                    # The database restarts or the network drops: the rows wait there, so
                    # wait for it and go on, without a restart.
                    self.stderr.write(f"sos_worker: database unavailable ({exc}); retrying")
                    connection.close()
                    _wait(stop, poll, heartbeat)
                    continue
                for field, value in report.as_dict().items():
                    setattr(total, field, getattr(total, field) + value)
                if options["once"]:
                    break
                _wait(stop, poll if wait is None else min(max(wait, 0.05), poll), heartbeat)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            refresh_connections()
        summary = ", ".join(f"{k} {v}" for k, v in total.as_dict().items())
        self.stdout.write(f"sos_worker: {summary}")
