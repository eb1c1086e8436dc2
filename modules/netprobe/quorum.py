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
  and its state are untouched; the reason is kept with the round (an UnavailableLocation of its
  measurement, as an ad-hoc measurement keeps its own) and, for the latest round, on its
  MonitorLocation row.

So with quorum 2 of 3, one location failing forever never pages anybody; a real outage seen
everywhere pages after failure_threshold rounds; the alert names the failing locations.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from modules.netprobe import monitoring
from modules.netprobe.certexpiry import earliest_expiry
from modules.netprobe.models import (
    Monitor,
    MonitorLocation,
    MonitorTransition,
    ProbeResult,
    UnavailableLocation,
)
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
from modules.netprobe.transitions import Verdict, monitor_transition
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

    def decide(current: Monitor) -> Verdict:
        _store(rows, outcomes, measurement)
        found.quorum = quorum_of(current.quorum, len(outcomes))
        return _record(current, found, outcomes, measurement, now)

    def gone() -> None:  # deleted while its probes ran: the results stay, unattached
        for row in rows:
            row.monitor = None
        _store(rows, outcomes, measurement)
        found.deleted = True

    found.change = monitor_transition(
        monitor=monitor,
        now=now,
        decide=decide,
        message=lambda current, down: _message(current, found, down=down),
        gone=gone,
    )
    return found


def _store(
    rows: Sequence[ProbeResult], outcomes: Sequence[LocationOutcome], measurement: uuid.UUID
) -> None:
    """The round's results, and its locations that did not answer with why (as measure.py
    stores an ad-hoc measurement's: nothing when no location answered), pruned with them."""
    ProbeResult.objects.bulk_create(rows)
    answered = {row.location for row in rows}
    if not rows:
        return
    UnavailableLocation.objects.bulk_create(
        UnavailableLocation(
            measurement=measurement,
            location=o.location,
            reason=(o.reason or "vantage unavailable")[:500],
            at=rows[0].started_at,
        )
        for o in outcomes
        if o.location not in answered
    )


def _record(
    monitor: Monitor,
    found: Round,
    outcomes: Sequence[LocationOutcome],
    measurement: uuid.UUID,
    now: datetime,
) -> Verdict:
    """Update each location and the monitor's streaks; decide the monitor's state by quorum."""
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
    return Verdict(new_state, shown, _reason(found, new_state))


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
