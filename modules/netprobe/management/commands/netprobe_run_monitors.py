"""`manage.py netprobe_run_monitors`: run the due monitors once and print a summary.

Zappa runs it on a schedule (`events` in zappa_settings.json), Kubernetes as a CronJob; a web
process runs them itself with NETPROBE_SCHEDULER=thread (the default off Lambda, so `make run`
needs nothing else). With `--loop [SECONDS]` it keeps running them every SECONDS (default 30)
until SIGTERM or SIGINT, as a long-running worker. Runs may overlap: each monitor is claimed with
a conditional update, so none runs twice.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from argparse import ArgumentParser, ArgumentTypeError
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from modules.netprobe import services
from modules.netprobe.monitor_runs import RunSummary

DEFAULT_LOOP_S = 30.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
logger = logging.getLogger("modules.netprobe.monitors")


class _Stop(BaseException):
    """Raised by the signal handler while the loop waits (nothing is left half done), or on a
    second signal during a run; a BaseException, so no `except Exception` in a run swallows it."""


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0.05 <= value <= 86400:
        raise ArgumentTypeError("must be between 0.05 and 86400 seconds")
    return value


class Command(BaseCommand):
    help = "Run the NetProbe monitors that are due, once (or every N seconds with --loop)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="at most this many monitors")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")
        parser.add_argument(
            "--loop",
            nargs="?",
            type=seconds,
            const=DEFAULT_LOOP_S,
            default=None,
            metavar="SECONDS",
            help=f"run the due monitors every SECONDS (default {DEFAULT_LOOP_S:g}) until SIGTERM "
            "or SIGINT; a run in progress finishes first",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["loop"] is None:
            self._report(services.monitor_run_due(limit=opts["limit"]), opts, always=True)
            return
        self._loop(opts["loop"], opts)

    def _loop(self, interval: float, opts: dict[str, Any]) -> None:
        state = {"stopping": False, "idle": False}
        runs = 0

        def stop(signum: int, frame: FrameType | None) -> None:
            if state["idle"] or state["stopping"]:  # a second signal does not wait for the run
                raise _Stop
            state["stopping"] = True

        with _handlers(stop):
            # Announced once the handlers are in place: a Ctrl-C right after it stops cleanly.
            self._say(f"NetProbe monitors: running every {interval:g} s until SIGTERM or SIGINT.")
            try:
                while not state["stopping"]:
                    started = time.monotonic()
                    summary = self._run_once(opts)
                    runs += 1
                    if summary is not None:
                        self._report(summary, opts, always=opts["verbosity"] >= 2)
                    if summary is not None and self._more_due(summary, opts):
                        continue  # the rest of the due monitors go now, not an interval later
                    state["idle"] = True
                    if not state["stopping"]:
                        time.sleep(max(interval - (time.monotonic() - started), 0.0))
                    state["idle"] = False
            except _Stop:
                pass
        self._say(f"NetProbe monitors: stopped after {runs} run(s).")

    def _run_once(self, opts: dict[str, Any]) -> RunSummary | None:
        # A worker lives for days: a connection the database dropped is replaced, and a run that
        # fails (the database restarting) is reported and retried at the next interval.
        close_old_connections()
        try:
            return services.monitor_run_due(limit=opts["limit"])
        except Exception:  # one failed run must not end the worker
            logger.exception("NetProbe monitors: the run failed; retrying at the next interval")
            return None

    def _more_due(self, summary: RunSummary, opts: dict[str, Any]) -> bool:
        workers = settings.NETPROBE_BATCH_WORKERS
        return summary.claimed > 0 and summary.due >= min(opts["limit"] or workers, workers)

    def _report(self, summary: RunSummary, opts: dict[str, Any], *, always: bool) -> None:
        if not (always or summary.due):
            return
        if opts["json"]:
            self._say(json.dumps(summary.to_dict()))
        else:
            self._say(f"NetProbe monitors: {summary}")

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()  # a pipe (kubectl logs, the test) sees each run as it happens


@contextmanager
def _handlers(handler: Any) -> Iterator[None]:
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
