"""The portal counts its own traffic: requests and their total duration per module and day.

Counting a request costs a dictionary update under a lock; nothing is written per request. Each
process keeps its counts in memory and adds them to `TrafficDay` rows with one atomic
`UPDATE ... SET requests = requests + n` per (day, module): on a process's first counted request,
on the first request after FINOPS_FLUSH_S seconds (10 s on Lambda, 60 s elsewhere), at process
exit, and from the per-minute scheduled tasks on Lambda, whose execution environments are frozen
between invocations and never see their process exit.

What can still be lost: a Lambda environment that Lambda reclaims loses the requests it answered
after its last flush, that is less than FINOPS_FLUSH_S seconds of its traffic, unless a later
request past the interval or a scheduled event that lands on that same environment wrote them.
A process killed without exit handlers (SIGKILL, out of memory) loses the same.
"""

from __future__ import annotations

import atexit
import datetime
import logging
import math
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

logger = logging.getLogger("portal.finops")

# Load balancer and kubelet probes and metrics scrapes (a ServiceMonitor) are not traffic: on EKS
# they would count thousands a day.
NOT_TRAFFIC = frozenset({"/healthz", "/readyz", "/metrics", "/favicon.ico"})

Key = tuple[datetime.date, str]

_lock = threading.Lock()
_counts: dict[Key, list[float]] = {}  # (day, module) -> [requests, total milliseconds]
# -inf: a new process writes its first count at once, so an environment Lambda starts for a
# burst and reclaims after it has written at least the burst's first request.
_last_flush = -math.inf


def module_of(request: HttpRequest) -> str:
    """netprobe, sos or faces for their pages and API, `portal` for everything else."""
    known = settings.KNOWN_MODULES
    match = getattr(request, "resolver_match", None)
    if match is not None:
        for namespace in match.namespaces:
            label = namespace.removesuffix("_api")
            if label in known:
                return label
    # Unresolved paths (404s) count by their prefix: /faces/..., /api/faces/...
    parts = request.path_info.strip("/").split("/")
    first = parts[1] if parts[0] == "api" and len(parts) > 1 else parts[0]
    return first if first in known else "portal"


def record(module: str, duration_ms: float, day: datetime.date | None = None) -> None:
    key = (day or timezone.localdate(), module)
    with _lock:
        entry = _counts.get(key)
        if entry is None:
            _counts[key] = [1, duration_ms]
        else:
            entry[0] += 1
            entry[1] += duration_ms


def pending() -> dict[Key, tuple[int, float]]:
    """What this process counted and has not written yet."""
    with _lock:
        return {key: (int(n), ms) for key, (n, ms) in _counts.items()}


def discard() -> None:
    """Forget unwritten counts (tests)."""
    with _lock:
        _counts.clear()


def flush() -> int:
    """Add this process's counts to the database; returns how many rows it touched. Counts that
    could not be written are kept for the next flush."""
    global _last_flush
    with _lock:
        batch = dict(_counts)
        _counts.clear()
        _last_flush = time.monotonic()
    written = 0
    try:
        for (day, module), (requests, duration_ms) in list(batch.items()):
            _add(day, module, int(requests), round(duration_ms))
            del batch[(day, module)]
            written += 1
    except DatabaseError as exc:
        logger.warning("traffic counts not written, kept for the next flush: %s", exc)
        with _lock:
            for key, (requests, duration_ms) in batch.items():
                entry = _counts.setdefault(key, [0, 0.0])
                entry[0] += requests
                entry[1] += duration_ms
    return written


def _add(day: datetime.date, module: str, requests: int, duration_ms: int) -> None:
    from portal.models import TrafficDay

    rows = TrafficDay.objects.filter(day=day, module=module)
    increment = {
        "requests": F("requests") + requests,
        "duration_ms": F("duration_ms") + duration_ms,
    }
    if rows.update(**increment):
        return
    # The day's first flush: another process may create the row at the same moment, so the
    # insert ignores a conflict and the increment runs on whichever row won.
    TrafficDay.objects.bulk_create([TrafficDay(day=day, module=module)], ignore_conflicts=True)
    rows.update(**increment)


def flush_if_due() -> None:
    global _last_flush
    now = time.monotonic()
    with _lock:
        if now - _last_flush < settings.FINOPS_FLUSH_S or not _counts:
            return
        _last_flush = now  # one thread flushes; the others go on counting
    flush()


def _flush_at_exit() -> None:
    if _counts:
        try:
            flush()
        except Exception:  # the interpreter is going away: log and let it
            logger.exception("traffic counts lost at exit")


atexit.register(_flush_at_exit)


class TrafficMiddleware:
    """Outermost middleware: counts every answered request with its whole duration."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        if settings.FINOPS_TRAFFIC and request.path_info not in NOT_TRAFFIC:
            record(module_of(request), (time.perf_counter() - started) * 1000)
            flush_if_due()
        return response
