"""NetProbe queries: monitor uptime over 24 h / 7 d / 30 d and the response-time series."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Max, Min, Q
from django.utils import timezone

from modules.netprobe.models import Monitor, ProbeResult, Status

WINDOWS: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}


@dataclass(frozen=True)
class Uptime:
    window: str
    checks: int
    ok: int
    uptime_percent: float | None
    avg_response_ms: float | None
    min_response_ms: float | None
    max_response_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _window(window: str | timedelta) -> tuple[str, timedelta]:
    if isinstance(window, timedelta):
        return f"{int(window.total_seconds())}s", window
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {', '.join(WINDOWS)}")
    return window, WINDOWS[window]


def monitor_uptime(
    monitor: Monitor, window: str | timedelta = "24h", *, now: datetime | None = None
) -> Uptime:
    """Share of ok checks in the window and response-time figures of the ok ones."""
    label, span = _window(window)
    since = (now or timezone.now()) - span
    ok = Q(status=Status.OK)
    figures = ProbeResult.objects.filter(monitor=monitor, started_at__gte=since).aggregate(
        checks=Count("pk"),
        ok=Count("pk", filter=ok),
        avg=Avg("response_ms", filter=ok),
        low=Min("response_ms", filter=ok),
        high=Max("response_ms", filter=ok),
    )
    checks = figures["checks"]

    def r(value: float | None) -> float | None:
        return round(value, 3) if value is not None else None

    return Uptime(
        window=label,
        checks=checks,
        ok=figures["ok"],
        uptime_percent=round(100 * figures["ok"] / checks, 3) if checks else None,
        avg_response_ms=r(figures["avg"]),
        min_response_ms=r(figures["low"]),
        max_response_ms=r(figures["high"]),
    )


@dataclass(frozen=True)
class Point:
    at: datetime
    response_ms: float | None  # mean of the ok checks in the bucket
    checks: int
    failures: int

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat()}


def monitor_series(
    monitor: Monitor,
    window: str | timedelta = "24h",
    *,
    now: datetime | None = None,
    max_points: int = 240,
) -> list[Point]:
    """Response times in the window: one point per check, or time buckets when there are more
    checks than `max_points` (a 30-day window at 30 s has 86,400)."""
    _, span = _window(window)
    now = now or timezone.now()
    since = now - span
    rows = list(
        ProbeResult.objects.filter(monitor=monitor, started_at__gte=since)
        .order_by("started_at")
        .values_list("started_at", "response_ms", "status")
    )
    if len(rows) <= max_points:
        return [
            Point(at, ms if status == Status.OK else None, 1, int(status != Status.OK))
            for at, ms, status in rows
        ]
    # Buckets cover the checks, not the whole window: a two-day-old monitor's 30-day chart is
    # max_points buckets over those two days, not the few that a 30-day split leaves them.
    start = max(since, rows[0][0])
    width = (now - start) / max_points or timedelta(seconds=1)
    buckets: dict[int, list[tuple[float | None, str]]] = {}
    for at, ms, status in rows:
        index = min(max(int((at - start) / width), 0), max_points - 1)
        buckets.setdefault(index, []).append((ms, status))
    points = []
    for index in sorted(buckets):
        items = buckets[index]
        oks = [ms for ms, status in items if status == Status.OK and ms is not None]
        points.append(
            Point(
                at=start + width * index + width / 2,
                response_ms=round(sum(oks) / len(oks), 3) if oks else None,
                checks=len(items),
                failures=sum(1 for _, status in items if status != Status.OK),
            )
        )
    return points
