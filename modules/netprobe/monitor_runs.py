"""Running the due monitors: claim them, run every call of the run (here and at the vantages) at
once on one pool, record each monitor's result or round.

Runs are claimed with a conditional UPDATE of next_run_at, so two overlapping runners (Zappa's
schedule and a Kubernetes CronJob, or two ticks of either) never run one monitor twice. Each
monitor's result is stored and recorded on its own: a monitor deleted while its probe ran, or an
error on one, never loses the others' results. A run takes at most one wave of the pool, counted
in calls (a monitor run from 4 locations takes 4), so no call waits for a worker past the budget.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone

from modules.netprobe import monitor_locations, quorum
from modules.netprobe.certexpiry import cert_expiry_check
from modules.netprobe.models import Monitor, MonitorTransition, ProbeResult
from modules.netprobe.monitoring import monitor_record
from modules.netprobe.probes import ProbeOptionsError
from modules.netprobe.runner import ProbeSpec, build_row, probe_validate
from modules.netprobe.vantages.fanout import run_pairs

logger = logging.getLogger("modules.netprobe.monitors")

# A runner woken a little early (schedulers jitter) still takes a monitor due in this margin.
DUE_GRACE = timedelta(seconds=5)


@dataclass
class RunSummary:
    due: int = 0
    claimed: int = 0
    ran: int = 0
    ok: int = 0
    failed: int = 0
    transitions: list[str] = field(default_factory=list)
    alerts: int = 0
    alert_errors: int = 0
    cert_warnings: int = 0  # certificates about to expire, warned about in this run
    deleted: int = 0  # monitors deleted while their probe ran: the result is kept, unattached
    errors: int = 0  # monitors whose result could not be stored or recorded (logged)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        text = (
            f"{self.due} due, {self.claimed} claimed, {self.ran} run: "
            f"{self.ok} ok, {self.failed} failed"
        )
        if self.transitions:
            text += "; " + "; ".join(self.transitions)
        if self.alerts or self.alert_errors:
            text += f"; {self.alerts} SOS alert(s), {self.alert_errors} alert error(s)"
        if self.cert_warnings:
            text += f"; {self.cert_warnings} certificate expiry warning(s)"
        if self.deleted:
            text += f"; {self.deleted} deleted while running"
        if self.errors:
            text += f"; {self.errors} not recorded (see the log)"
        return text


def _claim(pk: int, seen: datetime | None, now: datetime, interval_s: int) -> bool:
    """Move next_run_at forward only if nobody else did since we read it."""
    rows = Monitor.objects.filter(pk=pk, enabled=True)
    rows = rows.filter(next_run_at__isnull=True) if seen is None else rows.filter(next_run_at=seen)
    return rows.update(next_run_at=now + timedelta(seconds=interval_s), last_run_at=now) == 1


def monitor_run_due(*, now: datetime | None = None, limit: int | None = None) -> RunSummary:
    """Claim the due monitors, run their probes concurrently, record the results."""
    now = now or timezone.now()
    due = (
        Monitor.objects.filter(enabled=True)
        .filter(Q(next_run_at__isnull=True) | Q(next_run_at__lte=now + DUE_GRACE))
        .order_by(F("next_run_at").asc(nulls_first=True), "pk")
        .values_list("pk", "next_run_at", "interval_s", "locations")
    )
    # At most one wave of the pool per run, counted in calls (a monitor run from 4 locations
    # takes 4 workers): a call left waiting for a worker could miss the time budget and be
    # counted as failed or unavailable. The rest stay due for the next run.
    workers = settings.NETPROBE_BATCH_WORKERS
    limit = min(limit or workers, workers)
    started = time.monotonic()
    seen_due = list(due[:limit])
    candidates = _fill(seen_due, workers)
    # `due` counts every due monitor looked at, so a pass cut short by its calls reads as full
    # and the runners (scheduler.py, netprobe_run_monitors) go on with another.
    summary = RunSummary(due=len(seen_due))
    claimed = [pk for pk, seen, interval, _ in candidates if _claim(pk, seen, now, interval)]
    summary.claimed = len(claimed)
    monitors = list(Monitor.objects.filter(pk__in=claimed).order_by("pk"))
    enabled = monitor_locations.enabled_vantages() if monitors else []
    plans: list[tuple[Monitor, ProbeSpec, list[str]]] = []
    for monitor in monitors:
        try:
            spec = probe_validate(**monitor.spec())
        except ProbeOptionsError:
            # Options the limits no longer allow still produce a (failed) result: run_many
            # reports them, so the monitor goes down instead of silently stopping.
            spec = ProbeSpec(monitor.kind, monitor.target, dict(monitor.options))
        plans.append((monitor, spec, monitor_locations.monitor_locations(monitor, enabled=enabled)))
    # Every call of the run, here and at the vantages, at once on one pool: a slow vantage never
    # delays the hub-only monitors past the time budget.
    outcomes = iter(
        run_pairs([(s, name) for _, s, places in plans for name in places], started=started)
    )
    for monitor, spec, places in plans:
        mine = [next(outcomes) for _ in places]
        summary.ran += 1
        try:
            if monitor_locations.is_multi(places):
                found = quorum.monitor_record_round(
                    monitor=monitor, spec=spec, outcomes=mine, now=now
                )
                summary.ok += found.ok
                summary.failed += not found.ok
                if found.deleted:
                    summary.deleted += 1
                    continue
                change, checked = found.change, quorum.cert_row(found)
            else:
                result = mine[0].result
                assert result is not None  # the hub always answers
                summary.ok += result.ok
                summary.failed += not result.ok
                checked = _store(build_row(result, spec, monitor=monitor))
                if checked.monitor_id is None:
                    summary.deleted += 1
                    continue
                change = monitor_record(monitor=monitor, result=checked, now=now)
        except Exception:  # one monitor's round must not cost the others theirs
            logger.exception("NetProbe monitor %s: its result could not be recorded", monitor.pk)
            summary.errors += 1
            continue
        _tally(summary, monitor, change, checked, now)
    return summary


def _fill(candidates: list[tuple[Any, ...]], workers: int) -> list[tuple[Any, ...]]:
    """The due monitors whose calls fit one wave of `workers` (the first always does)."""
    enabled = None
    taken, calls = [], 0
    for pk, seen, interval, locations in candidates:
        if locations == [monitor_locations.ALL] and enabled is None:
            enabled = monitor_locations.enabled_vantages()
        places = monitor_locations.monitor_locations(
            Monitor(locations=locations), enabled=enabled or []
        )
        if taken and calls + len(places) > workers:
            break
        taken.append((pk, seen, interval, locations))
        calls += len(places)
    return taken


def _tally(
    summary: RunSummary,
    monitor: Monitor,
    change: MonitorTransition | None,
    checked: ProbeResult | None,
    now: datetime,
) -> None:
    if change is not None:
        summary.transitions.append(f"{monitor.name}: {change.from_state} -> {change.to_state}")
        summary.alerts += change.alert_id is not None
        summary.alert_errors += bool(change.alert_error)
    try:
        if checked is not None:
            summary.cert_warnings += cert_expiry_check(monitor=monitor, result=checked, now=now)
    except DatabaseError:
        logger.exception("NetProbe monitor %s: certificate expiry not checked", monitor.pk)
        summary.errors += 1


def _store(row: ProbeResult) -> ProbeResult:
    """Insert a monitor's result; unattached if the monitor was deleted while its probe ran.

    The monitor row is locked until the insert commits, so a delete cannot slip in between
    and leave the result pointing at nothing (its SET_NULL then covers this row too)."""
    with transaction.atomic():
        if not Monitor.objects.select_for_update().filter(pk=row.monitor_id).exists():
            row.monitor = None
        row.save(force_insert=True)
    return row
