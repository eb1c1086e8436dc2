"""NetProbe queries: monitor uptime over 24 h / 7 d / 30 d and the response-time series.

The monitor pages leave failed checks inside a maintenance occurrence of their monitor out of
the uptime, as the status pages do (`maintenance`: the monitor's merged occurrences). A monitor
run from several locations counts rounds, not checks (rounds.py): its `checks` are rounds."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, F, Max, Min, OuterRef, Q, Subquery, Sum, Window
from django.db.models.functions import Length, RowNumber
from django.utils import timezone

from modules.netprobe import rounds
from modules.netprobe.maintenance import Span, covers
from modules.netprobe.models import Monitor, MonitorTransition, ProbeResult, Status

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
    maintenance: int = 0  # failed checks during maintenance: not counted in uptime_percent

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _window(window: str | timedelta) -> tuple[str, timedelta]:
    if isinstance(window, timedelta):
        return f"{int(window.total_seconds())}s", window
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {', '.join(WINDOWS)}")
    return window, WINDOWS[window]


_OK = Q(status=Status.OK)
_FIGURES = {
    "checks": Count("pk"),
    "ok": Count("pk", filter=_OK),
    "avg": Avg("response_ms", filter=_OK),
    "low": Min("response_ms", filter=_OK),
    "high": Max("response_ms", filter=_OK),
}


def monitor_uptime(
    monitor: Monitor,
    window: str | timedelta = "24h",
    *,
    now: datetime | None = None,
    maintenance: Sequence[Span] = (),
) -> Uptime:
    """Share of ok checks in the window and response-time figures of the ok ones; for a
    monitor run from several locations, share of up rounds (rounds.py)."""
    label, span = _window(window)
    since = (now or timezone.now()) - span
    need = rounds.quorums([monitor])
    if need:
        return _rounds_uptime(label, need, since, {monitor.pk: maintenance})[monitor.pk]
    figures = ProbeResult.objects.filter(monitor=monitor, started_at__gte=since).aggregate(
        **_FIGURES
    )
    excused = len(maintenance_failures({monitor.pk: maintenance}, since))
    return _uptime(label, figures, excused)


def monitors_uptime(
    monitor_ids: Sequence[int],
    window: str | timedelta = "24h",
    *,
    now: datetime | None = None,
    maintenance: dict[int, Sequence[Span]] | None = None,
    quorums: Mapping[int, int] | None = None,
) -> dict[int, Uptime]:
    """`monitor_uptime` of many monitors in two queries, two more when some run from several
    locations (`quorums`: rounds.quorums of them; one more query when not given)."""
    label, span = _window(window)
    since = (now or timezone.now()) - span
    need = rounds.quorums_of(monitor_ids) if quorums is None else quorums
    maintenance = maintenance or {}
    single = [pk for pk in monitor_ids if pk not in need]
    rows = (
        ProbeResult.objects.filter(monitor_id__in=single, started_at__gte=since)
        .order_by()
        .values("monitor_id")
        .annotate(**_FIGURES)
    )
    found = {row["monitor_id"]: row for row in rows} if single else {}
    spans = {pk: s for pk, s in maintenance.items() if pk not in need}
    excused = Counter(pk for pk, _ in maintenance_failures(spans, since))
    empty = {"checks": 0, "ok": 0, "avg": None, "low": None, "high": None}
    multi = {pk: need[pk] for pk in monitor_ids if pk in need}
    return {
        **{pk: _uptime(label, found.get(pk, empty), excused.get(pk, 0)) for pk in single},
        **_rounds_uptime(label, multi, since, maintenance),
    }


def _rounds_uptime(
    label: str, need: Mapping[int, int], since: datetime, spans: Mapping[int, Sequence[Span]]
) -> dict[int, Uptime]:
    """The uptime of monitors run from several locations: their rounds, a down round inside
    maintenance excused."""
    if not need:
        return {}
    found = rounds.round_counts(need, since)
    excused = Counter(pk for pk, _ in rounds.down_rounds_covered(need, spans, since))
    empty = {"checks": 0, "ok": 0, "avg": None, "low": None, "high": None}
    return {pk: _uptime(label, found.get(pk, empty), excused.get(pk, 0)) for pk in need}


def maintenance_failures(
    spans: Mapping[int, Sequence[Span]], since: datetime
) -> list[tuple[int, datetime]]:
    """(monitor id, time) of the failed checks since `since` inside their monitor's maintenance
    `spans` (merged, sorted). One query, classified here: an OR of one range per occurrence
    would pass SQLite's expression limit with a few daily windows."""
    spans = {pk: s for pk, s in spans.items() if s and s[-1][1] > since}
    if not spans:
        return []
    failures = (
        ProbeResult.objects.filter(
            monitor_id__in=list(spans),
            started_at__gte=max(since, min(s[0][0] for s in spans.values())),
            started_at__lt=max(s[-1][1] for s in spans.values()),
        )
        .exclude(_OK)
        .order_by()
        .values_list("monitor_id", "started_at")
    )
    return [(pk, at) for pk, at in failures.iterator() if covers(list(spans[pk]), at)]


def _uptime(label: str, figures: dict[str, Any], excused: int) -> Uptime:
    counted = figures["checks"] - excused

    def r(value: float | None) -> float | None:
        return round(value, 3) if value is not None else None

    return Uptime(
        window=label,
        checks=figures["checks"],
        ok=figures["ok"],
        uptime_percent=round(100 * figures["ok"] / counted, 3) if counted else None,
        avg_response_ms=r(figures["avg"]),
        min_response_ms=r(figures["low"]),
        max_response_ms=r(figures["high"]),
        maintenance=excused,
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
    """Response times in the window: one point per check (per round for a monitor run from
    several locations), or time buckets when there are more checks than `max_points` (a 30-day
    window at 30 s has 86,400)."""
    _, span = _window(window)
    now = now or timezone.now()
    since = now - span
    need = rounds.quorums([monitor])
    if need:
        return _points(rounds.round_points(need, since)[monitor.pk], since, now, max_points)
    rows = list(
        ProbeResult.objects.filter(monitor=monitor, started_at__gte=since)
        .order_by("started_at")
        .values_list("started_at", "response_ms", "status")
    )
    return _points(rows, since, now, max_points)


def monitors_series(
    monitor_ids: Sequence[int],
    window: str | timedelta = "24h",
    *,
    now: datetime | None = None,
    max_points: int = 240,
    quorums: Mapping[int, int] | None = None,
) -> dict[int, list[Point]]:
    """`monitor_series` of many monitors in one query, two when some run from several
    locations (`quorums` as monitors_uptime; one more query when not given)."""
    _, span = _window(window)
    now = now or timezone.now()
    since = now - span
    need = rounds.quorums_of(monitor_ids) if quorums is None else quorums
    single = [pk for pk in monitor_ids if pk not in need]
    rows: dict[int, list[tuple[datetime, float | None, str]]] = {pk: [] for pk in monitor_ids}
    if any(pk in need for pk in monitor_ids):
        rows.update(rounds.round_points({pk: need[pk] for pk in monitor_ids if pk in need}, since))
    found = (
        ProbeResult.objects.filter(monitor_id__in=single, started_at__gte=since)
        .order_by("monitor_id", "started_at")
        .values_list("monitor_id", "started_at", "response_ms", "status")
    )
    for pk, *row in found.iterator():
        rows[pk].append(tuple(row))  # type: ignore[arg-type]
    return {pk: _points(checks, since, now, max_points) for pk, checks in rows.items()}


def _points(
    rows: list[tuple[datetime, float | None, str]],
    since: datetime,
    now: datetime,
    max_points: int,
) -> list[Point]:
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


HEARTBEATS = 50
LIST_DEFER = ("result", "options", "resolved")  # the JSON bodies: not needed in tables


def monitor_heartbeats(monitor: Monitor, limit: int = HEARTBEATS) -> list[ProbeResult]:
    """The monitor's last `limit` checks, oldest first (the heartbeat bar reads left to right)."""
    rows = ProbeResult.objects.filter(monitor=monitor).only(
        "pk", "status", "started_at", "response_ms", "error_code", "error_message", "monitor_id"
    )[:limit]
    return list(reversed(rows))


def monitors_heartbeats(
    monitor_ids: Sequence[int], limit: int = HEARTBEATS
) -> dict[int, list[ProbeResult]]:
    """`monitor_heartbeats` of many monitors in one query (a window function: SQLite >= 3.25,
    PostgreSQL)."""
    newest_first = Window(
        RowNumber(), partition_by=F("monitor_id"), order_by=(F("started_at").desc(), F("id").desc())
    )
    rows = (
        ProbeResult.objects.filter(monitor_id__in=monitor_ids)
        .only(
            "pk", "status", "started_at", "response_ms", "error_code", "error_message", "monitor_id"
        )
        .annotate(n=newest_first)
        .filter(n__lte=limit)
        .order_by("monitor_id", "started_at", "id")
    )
    found: dict[int, list[ProbeResult]] = {pk: [] for pk in monitor_ids}
    for row in rows:
        found[row.monitor_id].append(row)
    return found


def with_latest_transition(monitors: Any) -> Any:
    """Monitors annotated with their latest transition (`latest_to`, `latest_at`), for
    `monitor_state_since` without a query per monitor."""
    latest = MonitorTransition.objects.filter(monitor=OuterRef("pk")).order_by("-at", "-id")
    return monitors.annotate(
        latest_to=Subquery(latest.values("to_state")[:1]),
        latest_at=Subquery(latest.values("at")[:1]),
    )


def monitor_state_since(monitor: Monitor) -> datetime | None:
    """When the monitor entered its current state: its latest transition, if that led there."""
    if hasattr(monitor, "latest_to"):  # with_latest_transition
        to_state, at = monitor.latest_to, monitor.latest_at
    else:
        latest = monitor.transitions.only("to_state", "at").first()
        to_state, at = (latest.to_state, latest.at) if latest else (None, None)
    if to_state is not None and to_state == monitor.state:
        return at
    if to_state is None and monitor.state in (Monitor.State.UNKNOWN, Monitor.State.PAUSED):
        return monitor.created_at  # a new monitor has been waiting (or paused) since it was made
    return None


def monitor_activity(monitor: Monitor) -> tuple[Any, ...]:
    """What changes when anything on a monitor's page does: its row, its newest check and its
    state changes, with what SOS made of them (written later, by UPDATE). Two cheap queries: a
    page asks every few seconds."""
    # Ordered as its (monitor, time) index is: no sort of a month of checks.
    newest_result = monitor.results.order_by("-started_at", "-id").values_list("pk").first()
    changes = monitor.transitions.order_by().aggregate(
        n=Count("pk"),
        newest=Max("pk"),
        alerts=Max("alert_id"),
        alert_errors=Count("pk", filter=~Q(alert_error="")),
        reasons=Sum(Length("reason")),
    )
    return (monitor.pk, monitor.updated_at, monitor.last_run_at, newest_result, *changes.values())


def monitors_activity() -> tuple[Any, ...]:
    """The same for the list of monitors."""
    rows = Monitor.objects.aggregate(
        n=Count("pk"), edited=Max("updated_at"), ran=Max("last_run_at"), ids=Sum("pk")
    )
    newest = (
        ProbeResult.objects.filter(monitor__isnull=False)
        .order_by("-started_at", "-id")
        .values_list("pk")
        .first()
    )
    return (*rows.values(), newest)


def live_version(activity: tuple[Any, ...], *extra: Any, now: datetime | None = None) -> str:
    """A short tag of a live part's data and the current minute (its "3 min ago" texts and
    sliding windows change once a minute); equal tags mean nothing to redraw."""
    minute = int((now or timezone.now()).timestamp() // 60)
    key = repr((minute, *activity, *extra)).encode()
    return hashlib.sha256(key).hexdigest()[:16]
