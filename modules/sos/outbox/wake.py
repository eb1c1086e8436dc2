"""Wake the dispatcher after a commit: a thread in this process, a Zappa async task, or nothing.

SOS_WAKE=thread (the default off Lambda) lets `make run` deliver with no other process: the
thread drains what is due, then stays while retries, leases or reminders are scheduled and exits
when none are. SOS_WAKE=zappa (the default when AWS_LAMBDA_FUNCTION_NAME is set, since Lambda
freezes threads once the response is returned) invokes modules.sos.outbox.tasks.dispatch
asynchronously. SOS_WAKE=none leaves the rows to `sos_worker` or the scheduled sweep.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import connections

logger = logging.getLogger("modules.sos.wake")

# A sleeping wake thread re-checks the database at least this often, so work created by
# another process (the admin, a worker) is not left waiting for a long scheduled time.
MAX_SLEEP_S = 30.0

_lock = threading.Lock()
_signal = threading.Event()
_thread: threading.Thread | None = None


def wake() -> None:
    mode = settings.SOS_WAKE
    if mode == "none":
        return
    if mode == "zappa":
        from modules.sos.outbox.tasks import dispatch

        dispatch()
        return
    _signal.set()
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_loop, name="sos-wake", daemon=True)
            _thread.start()


def _loop() -> None:
    from modules.sos.outbox.dispatch import process_due_deliveries, seconds_until_due

    global _thread
    try:
        while True:
            _signal.clear()
            delay: float | None = None
            try:
                process_due_deliveries()
                delay = seconds_until_due()
            except Exception:
                logger.exception("SOS wake thread: dispatch pass failed")
                delay = 5.0
            with _lock:
                if delay is None and not _signal.is_set():
                    _thread = None
                    return
            # No connection is held while sleeping: the database may restart, and a test
            # database may be dropped, under a sleeping thread.
            connections.close_all()
            _signal.wait(max(0.2, min(delay if delay is not None else 0.0, MAX_SLEEP_S)))
    finally:
        with _lock:
            if _thread is threading.current_thread():
                _thread = None
        connections.close_all()
