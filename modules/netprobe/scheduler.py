"""Run the due monitors from a thread of the web process: monitors with nothing else started.

NETPROBE_SCHEDULER=thread (the default off Lambda) starts one thread per serving process: when
`runserver` starts, or at the first request any other WSGI or ASGI server (gunicorn, uvicorn)
hands to Django.
Management commands, migrations and the tests never start it. NETPROBE_SCHEDULER=off leaves the
monitors to the Zappa per-minute event (the default on Lambda, whose frozen functions run no
thread) or to the Kubernetes CronJob (the Helm chart sets it).

Several processes (gunicorn workers, pods, a `netprobe_run_monitors --loop` beside them) may
each run a scheduler over one database: `monitor_run_due` claims every due monitor with a
conditional UPDATE of its next_run_at, so each due monitor runs once per round, in one process.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

from modules.netprobe.models import Monitor

if TYPE_CHECKING:
    from modules.netprobe.monitor_runs import RunSummary

logger = logging.getLogger("modules.netprobe.monitors")

# Never spin: a monitor just claimed elsewhere, or a clock a little off, waits this at least.
MIN_SLEEP_S = 0.05

_lock = threading.Lock()
_thread: threading.Thread | None = None
_pid: int | None = None  # a fork (gunicorn --preload) inherits the variable, not the thread
_stop = threading.Event()


def enabled() -> bool:
    return settings.NETPROBE_SCHEDULER == "thread"


def serving_runserver(argv: list[str] | None = None) -> bool:
    """True in the process of `manage.py runserver` that serves (not the autoreloader's parent)."""
    argv = sys.argv if argv is None else argv
    if len(argv) < 2 or argv[1] != "runserver":
        return False
    return "--noreload" in argv or os.environ.get("RUN_MAIN") == "true"


def start() -> bool:
    """Start this process's scheduler thread unless it runs; returns whether it started one."""
    global _thread, _pid
    if not enabled():
        return False
    if _running():
        return False
    with _lock:
        if _running():
            return False
        _stop.clear()
        _thread = threading.Thread(target=_loop, name="netprobe-scheduler", daemon=True)
        _pid = os.getpid()
        _thread.start()
    logger.info("NetProbe scheduler: running the due monitors in this process (pid %s)", _pid)
    return True


def _running() -> bool:
    # A thread that died (an error escaping its loop) is replaced at the next request.
    thread = _thread
    return thread is not None and _pid == os.getpid() and thread.is_alive()


def on_request(sender: object, **kwargs: object) -> None:
    """request_started receiver: cheap after the first call."""
    if not _running():
        start()


def stop(timeout: float | None = None) -> None:
    """Stop the thread after its current round (for tests and embedding; servers just exit)."""
    global _thread
    _stop.set()
    thread = _thread
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout)
    with _lock:
        if _thread is thread:
            _thread = None


def run_round() -> list[RunSummary]:
    """Run every monitor due now: more passes while a pass was full (a wave of the pool)."""
    # Imported here: the probes and SOS behind monitors load on the first round, not at start.
    from modules.netprobe.monitor_runs import monitor_run_due

    summaries = []
    while True:
        summary = monitor_run_due()
        summaries.append(summary)
        if summary.due:
            logger.info("NetProbe monitors: %s", summary)
        if not (summary.claimed and summary.due >= settings.NETPROBE_BATCH_WORKERS):
            return summaries


def seconds_until_due(now: datetime | None = None) -> float:
    """Until the next enabled monitor is due, at most NETPROBE_SCHEDULER_TICK_S: monitors
    created or resumed by another process are seen within a tick."""
    tick = settings.NETPROBE_SCHEDULER_TICK_S
    running = Monitor.objects.filter(enabled=True)
    if running.filter(next_run_at=None).exists():
        return MIN_SLEEP_S
    upcoming = running.order_by("next_run_at").values_list("next_run_at", flat=True).first()
    if upcoming is None:
        return tick
    wait = (upcoming - (now or timezone.now())).total_seconds()
    return min(max(wait, MIN_SLEEP_S), tick)


def _loop() -> None:
    failing = False
    while not _stop.is_set():
        delay = settings.NETPROBE_SCHEDULER_TICK_S
        try:
            close_old_connections()
            run_round()
            delay = seconds_until_due()
            failing = False
        except Exception as exc:  # the database restarting must not end the thread
            if failing:  # the traceback once per outage, not every tick
                logger.warning("NetProbe scheduler: the round failed again: %s", exc)
            else:
                logger.exception(
                    "NetProbe scheduler: the round failed; retrying every %.1f s", delay
                )
            failing = True
        finally:
            _close_connections()
        _stop.wait(delay)


def _close_connections() -> None:
    # No connection is held while sleeping: the database may restart meanwhile. Closing a
    # connection the database already dropped can raise; that must not end the thread.
    try:
        connections.close_all()
    except Exception:
        logger.warning("NetProbe scheduler: closing the database connections failed", exc_info=True)
