"""What the pages show of a measurement from several locations: a heartbeat row per location on
the monitor page, the locations side by side on the result page.

Fixed query counts: the monitor page's rows cost three queries however many locations there are
(its locations, their states, their last checks); the result page's comparison two.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.contrib import messages
from django.db.models import Count, F, Max, Subquery, Value, Window
from django.db.models.functions import Coalesce, RowNumber
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from modules.netprobe import quorum
from modules.netprobe.maintenance import Span
from modules.netprobe.models import Monitor, MonitorLocation, ProbeResult, UnavailableLocation
from modules.netprobe.present import heartbeat, tone, waterfall
from modules.netprobe.selectors import HEARTBEATS
from modules.netprobe.vantages.measure import Measurement

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BEAT_FIELDS = (
    "pk",
    "status",
    "started_at",
    "response_ms",
    "error_code",
    "error_message",
    "monitor_id",
    "location",
)


def location_heartbeats(
    monitor: Monitor, limit: int = HEARTBEATS, *, count: int = 1
) -> dict[str, list[ProbeResult]]:
    """Each location's last `limit` checks of the monitor (run at `count` locations), oldest
    first, in one query. The window function reads only the rows since the (2 x limit x
    count)-th newest (an index range), not the monitor's whole history, on every poll."""
    newest_first = Window(
        RowNumber(), partition_by=F("location"), order_by=(F("started_at").desc(), F("id").desc())
    )
    history = ProbeResult.objects.filter(monitor=monitor)
    # Twice the rows a full set of rounds needs: rounds where a vantage did not answer store
    # fewer rows, and each location still gets its `limit`.
    since = history.order_by("-started_at").values("started_at")[2 * limit * count - 1 :][:1]
    rows = (
        history.filter(started_at__gte=Coalesce(Subquery(since), Value(EPOCH)))
        .only(*BEAT_FIELDS)
        .annotate(n=newest_first)
        .filter(n__lte=limit)
        .order_by("location", "started_at", "id")
    )
    found: dict[str, list[ProbeResult]] = {}
    for row in rows:
        found.setdefault(row.location, []).append(row)
    return found


def location_activity(monitor: Monitor) -> tuple[Any, ...]:
    """What changes when a location row does (for the live part's version): one query."""
    figures = MonitorLocation.objects.filter(monitor=monitor).aggregate(
        n=Count("pk"), changed=Max("updated_at")
    )
    return tuple(figures.values())


def monitor_location_rows(monitor: Monitor, *, spans: Sequence[Span] = ()) -> dict[str, Any] | None:
    """The monitor page's rows, one per location with its state and heartbeat bar, and the
    overall verdict in words; None for a monitor run from the hub alone."""
    locations = quorum.monitor_locations(monitor)
    if not quorum.is_multi(locations):
        return None
    places = {p.location: p for p in MonitorLocation.objects.filter(monitor=monitor)}
    beats = location_heartbeats(monitor, count=len(locations))
    rows = []
    for index, name in enumerate(locations, start=1):
        place = places.get(name)
        state = place.state if place is not None else Monitor.State.UNKNOWN
        rows.append(
            {
                "location": name,
                "state": state,
                "place": place,
                "unavailable": place.unavailable_reason if place is not None else "",
                "heartbeat": heartbeat(beats.get(name, []), maintenance=spans),
                "bar_id": f"heartbeat-location-{index}",
                "header_id": f"location-{index}-name",
            }
        )
    count = len(locations)
    need = quorum.quorum_of(monitor.quorum, count)
    down = [r["location"] for r in rows if r["state"] == Monitor.State.DOWN]
    up = sum(r["state"] == Monitor.State.UP for r in rows)
    if monitor.state == Monitor.State.DOWN:
        verdict = f"down from {len(down)} of {count} locations"
    elif monitor.state == Monitor.State.UP:
        verdict = f"up at {up} of {count} locations"
        if down:
            verdict += f", down from {len(down)}"
    else:  # paused or not decided yet: no "up at 0 of 3" for a monitor that is not up
        verdict = Monitor.State(monitor.state).label.lower()
        if up or down:
            verdict += f" (locations: {up} up, {len(down)} down, of {count})"
    return {
        "rows": rows,
        "count": count,
        "quorum": need,
        "down": down,
        "verdict": verdict,
        "rule": f"down when {need} of {count} locations fail in the same round",
    }


# --- the result page --------------------------------------------------------------------------


def measurement_view(row: ProbeResult) -> dict[str, Any] | None:
    """The locations of `row`'s measurement side by side, fastest first; None for a result
    measured from one place. Locations that did not answer stored no result: their reason, kept
    with the measurement (UnavailableLocation: an ad-hoc one's or a monitor's round), is listed."""
    if row.measurement is None:
        return None
    rows = list(
        ProbeResult.objects.filter(measurement=row.measurement).defer("options", "resolved")
    )
    unavailable = list(
        UnavailableLocation.objects.filter(measurement=row.measurement)
        .exclude(location__in=[r.location for r in rows])
        .annotate(unavailable_reason=F("reason"))
        .values("location", "unavailable_reason")
    )
    if len(rows) + len(unavailable) < 2 and row.monitor_id is None:
        return None
    entries = [_entry(r, current=row) for r in rows]
    entries.sort(key=lambda e: (e["total_ms"] is None, e["total_ms"] or 0.0, e["location"]))
    timed = [e for e in entries if e["total_ms"] is not None]
    if len(timed) > 1:
        timed[0]["mark"], timed[-1]["mark"] = "fastest", "slowest"
    longest = max((e["total_ms"] for e in timed), default=0.0) or 1.0
    for e in entries:  # one time axis for every row: a slower location's bar is longer
        e["scale"] = f"{(e['total_ms'] or 0.0) / longest:.4f}"
    return {
        "entries": entries,
        "unavailable": unavailable,
        "count": len(entries) + len(unavailable),
    }


def _entry(r: ProbeResult, *, current: ProbeResult) -> dict[str, Any]:
    data = r.result or {}
    steps = waterfall(data.get("timings"), data.get("failed_phase")) if r.kind == "http" else None
    total = steps["total_ms"] if steps else r.response_ms
    return {
        "r": r,
        "location": r.location,
        "tone": tone(r.status),
        "total_ms": total if r.ok or steps else None,
        "waterfall": steps,
        "current": r.pk == current.pk,
        "mark": "",
    }


# --- the probe form -----------------------------------------------------------------------------


def measurement_redirect(request: HttpRequest, measurement: Measurement) -> HttpResponse:
    """After a run from several locations: the result page of the first location that answered
    (it shows them all side by side, the unavailable ones with their reason, also said here as
    messages)."""
    for entry in measurement.entries:
        if entry.row is None:
            messages.warning(request, f"{entry.location}: vantage unavailable ({entry.reason}).")
    answered = [e.row for e in measurement.entries if e.row is not None]
    if not answered:
        messages.error(request, "No location answered: nothing was stored.")
        return redirect("netprobe:index")
    return redirect("netprobe:result", pk=answered[0].pk)
