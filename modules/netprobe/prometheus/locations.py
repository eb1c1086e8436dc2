"""/metrics for monitors run from several locations (quorum.py).

Each location carries its own series under its own `location` label: netprobe_monitor_up,
netprobe_monitor_state and netprobe_monitor_consecutive_failures from the location's own state,
and the probe_* of the location's last result. The monitor's overall (quorum) verdict is the
series with location="quorum": its netprobe_monitor_* gauges, and probe_success 0 when the last
decided round had at least `quorum` locations failing, else 1. A monitor run from the hub alone
keeps location="local", as before.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from modules.netprobe import monitor_locations as where
from modules.netprobe.models import Monitor

from .exposition import Families, Labels, Outcome, add_monitor_state, add_outcome

QUORUM = "quorum"
MONITOR = (
    "id",
    "name",
    "target",
    "state",
    "enabled",
    "interval_s",
    "consecutive_failures",
    "last_run_at",
    "locations",
)
RESULT = ("kind", "status", "duration_ms", "resolved", "ip_version", "options", "result")
PLACE = ("location", "state", "consecutive_failures", "last_checked_at")


def monitors_with_places() -> list[SimpleNamespace]:
    """Every monitor with its last result and its locations' rows and their last results, in
    one query (a LEFT JOIN: one row per location, one for a monitor that has none)."""
    here, there = "location_states__", "location_states__last_result__"
    columns = [
        *MONITOR,
        "last_result_id",
        *(f"last_result__{c}" for c in RESULT),
        *(here + c for c in PLACE),
        f"{here}last_result_id",
        *(there + c for c in RESULT),
    ]
    rows = Monitor.objects.order_by("name", "id", f"{here}location").values(*columns)
    monitors: dict[int, SimpleNamespace] = {}
    for row in rows:
        monitor = monitors.get(row["id"])
        if monitor is None:
            monitor = SimpleNamespace(**{c: row[c] for c in MONITOR}, places=[])
            monitor.pk = row["id"]
            monitor.last_result = _result(row, "last_result__", row["last_result_id"])
            monitors[row["id"]] = monitor
        if row[f"{here}location"] is not None:
            place = SimpleNamespace(**{c: row[here + c] for c in PLACE})
            place.last_result = _result(row, there, row[f"{here}last_result_id"])
            monitor.places.append(place)
    # Only where the monitor runs now: the row of a vantage since dropped (or disabled, under
    # "all") would keep a stale series, and the alert rules on it, firing.
    everywhere = any(m.locations == [where.ALL] for m in monitors.values())
    enabled = where.enabled_vantages() if everywhere else []
    for monitor in monitors.values():
        monitor.current = where.monitor_locations(monitor, enabled=enabled)
        monitor.places = [p for p in monitor.places if p.location in monitor.current]
    return list(monitors.values())


def _result(row: dict[str, Any], prefix: str, pk: int | None) -> SimpleNamespace | None:
    return None if pk is None else SimpleNamespace(**{c: row[prefix + c] for c in RESULT})


def is_multi(monitor: Any) -> bool:
    """Run from more than the hub (one of `monitors_with_places`)."""
    return where.is_multi(monitor.current)


def add_locations(families: Families, monitor: Any, labels: Labels) -> None:
    """The quorum series and one series per location of a multi-location monitor (one of
    `monitors_with_places`)."""
    overall = {**labels, "location": QUORUM}
    add_monitor_state(families, monitor, overall)
    if monitor.enabled and monitor.last_run_at is not None:
        families.add("probe_success", 0 if monitor.consecutive_failures else 1, overall)
    for place in getattr(monitor, "places", []):
        here = {**labels, "location": place.location}
        state = SimpleNamespace(
            state=place.state,
            enabled=monitor.enabled,
            interval_s=monitor.interval_s,
            consecutive_failures=place.consecutive_failures,
            last_run_at=place.last_checked_at,
        )
        add_monitor_state(families, state, here)
        if monitor.enabled and place.last_result is not None:
            add_outcome(families, Outcome.of_row(place.last_result), here)
