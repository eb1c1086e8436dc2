"""The hub's side of a measurement from several locations: every location at once.

`local` runs on the hub's own engine and egress policy; every other location is a Vantage row,
sent a signed request (client.py). A vantage that is down, slow past the deadline or answers a
bad signature is an entry with status `vantage_unavailable` and a reason: the measurement as a
whole never fails for it. The whole takes about as long as the slowest location.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.db import connections

from modules.netprobe.models import LOCAL
from modules.netprobe.probes import ProbeResult as EngineResult
from modules.netprobe.runner import ProbeSpec, probe_limits, run_many
from modules.netprobe.vantages.locations import (
    ALL,
    MAX_LOCATIONS,
    LocationsInvalid,
    is_multi,
    resolve,
)

logger = logging.getLogger("modules.netprobe")

LocationStatus = Literal["ok", "vantage_unavailable"]
LOCATION_STATUSES: tuple[LocationStatus, ...] = ("ok", "vantage_unavailable")
__all__ = [
    "ALL",
    "LOCATION_STATUSES",
    "MAX_LOCATIONS",
    "LocationOutcome",
    "LocationsInvalid",
    "is_local_only",
    "resolve_locations",
    "run_at",
    "run_pairs",
]


@dataclass(frozen=True)
class LocationOutcome:
    """One location's part of a measurement.

    status "ok": the probe ran there and `result` holds its engine result (which may itself
    be a failed or timed-out probe: the target's problem, not the vantage's).
    status "vantage_unavailable": `result` is None and `reason` says why in one line.
    """

    location: str
    status: LocationStatus
    result: EngineResult | None
    reason: str = ""
    latency_ms: float | None = None  # the vantage's round trip, answered by the API


def resolve_locations(names: Any) -> list[str]:
    """Location names as given -> the names to run at (locations.resolve)."""
    return resolve(names)


def is_local_only(names: Any) -> bool:
    """The request as given asks for the hub alone (locations.is_multi)."""
    return not is_multi(names)


def probe_duration_s(spec: ProbeSpec) -> float:
    """The longest a probe may take by its options, within NETPROBE_MAX_DURATION_S."""
    limits = probe_limits()
    options = spec.valid.options if spec.valid is not None else None
    timeout = float(getattr(options, "timeout", limits.default_timeout_s))
    if spec.kind in ("tcp", "ping"):
        count = int(getattr(options, "count", 1))
        duration = count * (timeout + float(getattr(options, "interval", 0.0)))
    elif spec.kind == "traceroute":
        duration = limits.max_duration_s
    else:  # http, dns, tls: `timeout` bounds the whole probe
        duration = timeout
    return min(duration, limits.max_duration_s)


def vantage_budget_s(spec: ProbeSpec, *, left_s: float | None = None) -> float:
    """How long the hub waits for a vantage: the probe's own duration plus the margin, and never
    longer than `left_s`, what is left of NETPROBE_MAX_DURATION_S (API Gateway cuts at 29 s)."""
    budget = probe_duration_s(spec) + settings.NETPROBE_VANTAGE_MARGIN_S
    if left_s is not None:
        budget = min(budget, left_s)
    return round(budget, 3)


def run_at(spec: ProbeSpec, locations: Sequence[str]) -> list[LocationOutcome]:
    """Run one validated probe at each of `locations` (already resolved names, "local" included)
    concurrently; the outcomes keep the order of `locations`."""
    return run_pairs([(spec, name) for name in locations])


# Past its budget a vantage call is given up after this much more (its thread left behind): the
# client's own deadline bounds every exchange but a name resolution that hangs.
GIVE_UP_GRACE_S = 0.25
# A vantage call that would have less than this left is not started.
MIN_BUDGET_S = 0.5


def run_pairs(
    pairs: Sequence[tuple[ProbeSpec, str]], *, started: float | None = None
) -> list[LocationOutcome]:
    """Each (probe, location) on one pool, local and remote alike; outcomes in the order of
    `pairs`. Every budget is counted from the moment its call starts and capped at what is left
    of NETPROBE_MAX_DURATION_S since `started` (time.monotonic(), default now), so work queued
    behind a full pool is run late rather than reported as a vantage timeout."""
    from modules.netprobe.models import Vantage
    from modules.netprobe.vantages.client import VantageUnavailable, vantage_probe
    from portal.egress import get_policy

    if not pairs:
        return []
    t0 = time.monotonic() if started is None else started
    limit = probe_limits().max_duration_s
    names = {name for _, name in pairs if name != LOCAL}
    vantages = {v.name: v for v in Vantage.objects.filter(name__in=names, enabled=True)}
    policy = get_policy()
    margin = float(settings.NETPROBE_VANTAGE_MARGIN_S)
    lock = threading.Lock()
    deadlines: dict[int, tuple[float, float]] = {}  # running call -> (give up at, its budget)

    def local(spec: ProbeSpec) -> LocationOutcome:
        try:
            return LocationOutcome(LOCAL, "ok", run_many([spec], started=t0)[0])
        finally:
            connections.close_all()  # this thread's own connections, if it ever opened one

    def remote(index: int, spec: ProbeSpec, name: str) -> LocationOutcome:
        now = time.monotonic()
        budget = vantage_budget_s(spec, left_s=limit - (now - t0))
        if budget < MIN_BUDGET_S:
            reason = f"not started: the {limit:g} s budget ran out"
            return LocationOutcome(name, "vantage_unavailable", None, reason)
        with lock:
            deadlines[index] = (now + budget + GIVE_UP_GRACE_S, budget)
        try:
            result, latency = vantage_probe(
                vantages[name],
                kind=spec.kind,
                target=spec.target,
                options=spec.options,
                timeout=budget,
                policy=policy,
                margin=min(margin, budget / 2),
            )
        except VantageUnavailable as exc:
            return LocationOutcome(name, "vantage_unavailable", None, exc.reason)
        except Exception as exc:  # one broken exchange must not lose the other locations
            logger.exception("NetProbe: vantage %s crashed the fan-out", name)
            return LocationOutcome(
                name, "vantage_unavailable", None, f"hub error ({type(exc).__name__})"
            )
        return LocationOutcome(name, "ok", result, latency_ms=latency)

    outcomes: list[LocationOutcome | None] = [None] * len(pairs)
    futures: dict[Future[LocationOutcome], int] = {}
    workers = max(1, min(settings.NETPROBE_BATCH_WORKERS, len(pairs)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="netprobe-fanout")
    try:
        for index, (spec, name) in enumerate(pairs):
            if name == LOCAL:
                futures[pool.submit(local, spec)] = index
            elif name not in vantages:
                reason = f"no enabled vantage named {name!r}"
                outcomes[index] = LocationOutcome(name, "vantage_unavailable", None, reason)
            else:
                futures[pool.submit(remote, index, spec, name)] = index
        pending = set(futures)
        while pending:
            with lock:
                running = [deadlines[futures[f]][0] for f in pending if futures[f] in deadlines]
            now = time.monotonic()
            wake = min([*running, now + 0.5])
            done, pending = wait(pending, timeout=max(0.0, wake - now), return_when=FIRST_COMPLETED)
            for future in done:
                outcomes[futures[future]] = future.result()
            now = time.monotonic()
            with lock:
                late = {f: deadlines[futures[f]][1] for f in pending if futures[f] in deadlines}
                late = {f: b for f, b in late.items() if deadlines[futures[f]][0] <= now}
            for future, budget in late.items():
                index = futures[future]
                name = pairs[index][1]
                reason = f"timed out after {budget:g} s"
                outcomes[index] = LocationOutcome(name, "vantage_unavailable", None, reason)
            pending -= set(late)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    missing = [pairs[i][1] for i, o in enumerate(outcomes) if o is None]
    if missing:  # a bug, not a vantage's fault: the callers rely on one outcome per pair
        raise RuntimeError(f"no outcome for {missing}")
    return outcomes  # type: ignore[return-value]
