"""Monitors run from several locations: each location's own state, an overall state by quorum.

A monitor whose `locations` resolve to more than the hub alone (["local"]) runs each round at
every location at once (`vantages.fanout.run_at`) and stores one ProbeResult per location that
answered, all sharing one `measurement` id.

How failure_threshold and quorum combine:

- Each location keeps its own streaks and state (MonitorLocation) under the monitor's own
  thresholds: `failure_threshold` failures in a row take that location down,
  `recovery_threshold` successes in a row bring it up, exactly as a single-location monitor.
- A location *fails in a round* when its probe failed in that round and its own state is down,
  i.e. its own streak reached failure_threshold. A down location that succeeded this round
  (recovering, short of its recovery_threshold) is undecided: it answered fine, so it is not
  named as failing, and it does not count as up yet either.
- The monitor goes down when at least `quorum` locations fail in the same round (quorum:
  explicit, or a majority of the resolved locations). It comes back up only when fewer than
  quorum can be failing: the failing ones plus the undecided ones (unavailable, or not yet
  past a threshold) are fewer than quorum. In between it keeps its state: one vantage going
  dark never flips a verdict.
- A vantage that is unavailable counts as unknown: neither a failure nor a success; its streak
  and its state are untouched, and the reason is kept on its MonitorLocation row.

So with quorum 2 of 3, one location failing forever never pages anybody; a real outage seen
everywhere pages after failure_threshold rounds; the alert names the failing locations.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from modules.netprobe import monitoring
from modules.netprobe.certexpiry import earliest_expiry
from modules.netprobe.models import Monitor, MonitorLocation, MonitorTransition, ProbeResult
from modules.netprobe.monitor_locations import (
    ALL,
    enabled_vantages,
    is_multi,
    locations_check,
    locations_reset,
    monitor_locations,
    quorum_of,
)
from modules.netprobe.runner import ProbeSpec
from modules.netprobe.vantages.fanout import LocationOutcome
from modules.netprobe.vantages.measure import rows_of

__all__ = [
    "ALL",
    "Round",
    "enabled_vantages",
    "is_multi",
    "locations_check",
    "locations_reset",
    "monitor_locations",
    "monitor_record_round",
    "quorum_of",
]

State = Monitor.State


# --- a round -----------------------------------------------------------------------------------


@dataclass
class Round:
    """What one round of a multi-location monitor did."""

    rows: list[ProbeResult] = field(default_factory=list)
    failing: list[str] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    count: int = 0
    quorum: int = 1
    ok: bool = True  # fewer than quorum locations answered with a failure
    change: MonitorTransition | None = None
    deleted: bool = False


def monitor_record_round(
    *,
    monitor: Monitor,
    spec: ProbeSpec,
    outcomes: Sequence[LocationOutcome],
    now: datetime | None = None,
) -> Round:
    """Store the answered locations' results, update each location, decide by quorum, alert."""
    now = now or timezone.now()
    measurement = uuid.uuid4()
    outcomes, rows = rows_of(outcomes, spec, monitor=monitor, measurement=measurement)
    found = Round(rows=rows, count=len(outcomes), quorum=quorum_of(monitor.quorum, len(outcomes)))
    with transaction.atomic():
        current = Monitor.objects.select_for_update().filter(pk=monitor.pk).first()
        if current is None:  # deleted while its probes ran: the results stay, unattached
            for row in rows:
                row.monitor = None
            ProbeResult.objects.bulk_create(rows)
            found.deleted = True
            return found
        ProbeResult.objects.bulk_create(rows)
        found.quorum = quorum_of(current.quorum, len(outcomes))
        _record(current, found, outcomes, measurement, now)
    for name in ("state", "consecutive_successes", "consecutive_failures", "last_result"):
        setattr(monitor, name, getattr(current, name))
    monitor.last_run_at = current.last_run_at
    monitoring.monitor_alert(
        monitor=current,
        change=found.change,
        now=now,
        message=lambda down: _message(current, found, down=down),
    )
    return found


def _record(
    monitor: Monitor,
    found: Round,
    outcomes: Sequence[LocationOutcome],
    measurement: uuid.UUID,
    now: datetime,
) -> None:
    by_location = {row.location: row for row in found.rows}
    states = {
        s.location: s for s in MonitorLocation.objects.select_for_update().filter(monitor=monitor)
    }
    running = monitor.enabled and monitor.state != State.PAUSED
    undecided, raw_failed = 0, 0
    for outcome in outcomes:
        place = states.get(outcome.location) or MonitorLocation(
            monitor=monitor, location=outcome.location
        )
        place.last_measurement, place.last_checked_at = measurement, now
        row = by_location.get(outcome.location)
        if row is None:
            place.unavailable_reason = (outcome.reason or "vantage unavailable")[:500]
            found.unavailable.append(outcome.location)
            undecided += 1
        else:
            place.unavailable_reason = ""
            place.last_result = row
            raw_failed += not row.ok
            if running:
                _step(place, row.ok, monitor)
            if not row.ok and place.state == State.DOWN:
                found.failing.append(outcome.location)
            elif place.state != State.UP:  # not yet past a threshold, or recovering
                undecided += 1
        place.save()
    found.ok = raw_failed < found.quorum
    if raw_failed >= found.quorum:
        monitor.consecutive_failures += 1
        monitor.consecutive_successes = 0
    elif raw_failed + len(found.unavailable) < found.quorum:
        monitor.consecutive_successes += 1
        monitor.consecutive_failures = 0
    new_state = monitor.state
    if running:
        if len(found.failing) >= found.quorum:
            new_state = State.DOWN
        elif len(found.failing) + undecided < found.quorum:
            new_state = State.UP
    failing_rows = [by_location[name] for name in found.failing if not by_location[name].ok]
    shown = (failing_rows or found.rows or [None])[0]
    if shown is not None:
        monitor.last_result = shown
        monitor.last_run_at = found.rows[0].started_at
    if new_state != monitor.state:
        found.change = MonitorTransition.objects.create(
            monitor=monitor,
            from_state=monitor.state,
            to_state=new_state,
            at=now,
            result=shown,
            reason=_reason(found, new_state)[:500],
        )
        monitor.state = new_state
    monitor.save(
        update_fields=[
            "consecutive_successes",
            "consecutive_failures",
            "last_result",
            "last_run_at",
            "state",
            "updated_at",
        ]
    )


def _step(place: MonitorLocation, ok: bool, monitor: Monitor) -> None:
    """One location's own state machine, under the monitor's thresholds."""
    if ok:
        place.consecutive_successes += 1
        place.consecutive_failures = 0
    else:
        place.consecutive_failures += 1
        place.consecutive_successes = 0
    place.state = monitoring.next_state(
        place.state,
        ok=ok,
        successes=place.consecutive_successes,
        failures=place.consecutive_failures,
        failure_threshold=monitor.failure_threshold,
        recovery_threshold=monitor.recovery_threshold,
    )


def failing_text(found: Round) -> str:
    """ "eu-west-1, ap-south-1 (2 of 3)" """
    return f"{', '.join(found.failing)} ({len(found.failing)} of {found.count})"


def _reason(found: Round, new_state: str) -> str:
    if new_state == State.DOWN:
        text = f"down from {failing_text(found)}; quorum {found.quorum}"
    else:
        up = found.count - len(found.failing) - len(found.unavailable)
        text = f"up from {up} of {found.count} locations"
        if found.failing:
            text += f"; still failing: {failing_text(found)}, under the quorum of {found.quorum}"
    if found.unavailable:
        text += f"; unavailable: {', '.join(found.unavailable)}"
    return text


def _message(monitor: Monitor, found: Round, *, down: bool) -> str:
    what = f"{monitor.get_kind_display()} {monitor.target}"
    if down:
        row = next((r for r in found.rows if r.location in found.failing and not r.ok), None)
        detail = f" ({row.error_code or row.status}: {row.error_message})" if row else ""
        where = failing_text(found)
        return f"NetProbe monitor {monitor.name!r} is DOWN: {what} down from {where}{detail}"
    up = f"{found.count - len(found.failing) - len(found.unavailable)} of {found.count}"
    return f"NetProbe monitor {monitor.name!r} recovered: {what} answers again from {up} locations"


def cert_row(found: Round) -> ProbeResult | None:
    """The round's result to check certificates on: the first that shows any (any location)."""
    for row in found.rows:
        if earliest_expiry(row.kind, row.result or {}) is not None:
            return row
    return found.rows[0] if found.rows else None
