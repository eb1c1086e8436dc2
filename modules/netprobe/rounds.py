"""A monitor run from several locations counts by round, not by check.

Each round of a multi-location monitor stores one row per location that answered, sharing a
`measurement` id (quorum.py). Uptime, charts and status-page bars count such a monitor's
rounds: a round is *down* when at least the monitor's quorum of its rows failed, *up*
otherwise, so one location failing forever under a quorum of 2 of 3 leaves the uptime at 100 %,
as the monitor's own state does. A vantage that did not answer stored no row: it is neither.

The quorum applied is the monitor's current one (`quorum_of` over its current locations): a
round recorded while the monitor had other locations or another quorum is judged by today's
rule. A row of such a monitor without a measurement (from before it had several locations) is
a round of its own, of one location: down when it failed. Hub-only monitors keep counting check
by check (selectors.py).

Fixed query counts: the rounds are grouped in the database (one query per figure, whatever the
number of monitors); only the chart's points come back one per round.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.db import connection
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate

from modules.netprobe.maintenance import Span, covers
from modules.netprobe.models import Monitor, ProbeResult, Status
from modules.netprobe.vantages.fanout import ALL

_OK = Q(status=Status.OK)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def round_plans(monitors: Iterable[Monitor]) -> dict[int, tuple[int, int]]:
    """Monitor id -> (failed rows that make one of its rounds down, locations a round runs at),
    for the multi-location monitors among `monitors` (each needs `locations` and `quorum`);
    hub-only ones are absent. One query when one of them runs at "all" (the enabled vantages),
    else none."""
    from modules.netprobe import quorum

    monitors = list(monitors)
    everywhere = any(list(m.locations or []) == [ALL] for m in monitors)
    enabled = quorum.enabled_vantages() if everywhere else []
    found = {}
    for monitor in monitors:
        places = quorum.monitor_locations(monitor, enabled=enabled)
        if quorum.is_multi(places):
            found[monitor.pk] = (quorum.quorum_of(monitor.quorum, len(places)), len(places))
    return found


def quorums(monitors: Iterable[Monitor]) -> dict[int, int]:
    """The quorum of each of `round_plans`, as uptime and charts need it."""
    return {pk: need for pk, (need, _) in round_plans(monitors).items()}


def quorums_of(monitor_ids: Sequence[int]) -> dict[int, int]:
    """`quorums` of the monitors with these ids (one more query)."""
    return quorums(Monitor.objects.filter(pk__in=list(monitor_ids)).only("locations", "quorum"))


def _rounds(need: Mapping[int, int], since: datetime) -> QuerySet:
    """One row per round since `since` of the monitors in `need`: its monitor, time and UTC
    day, failed and ok rows, the ok rows' response times, and the failed rows that make it
    down (`need`, its monitor's quorum)."""
    by_quorum: dict[int, list[int]] = {}
    for pk, q in need.items():
        by_quorum.setdefault(q, []).append(pk)
    quorum_of_row = Case(
        # A row without a measurement is a round of one location: down when it failed.
        When(measurement__isnull=True, then=Value(1)),
        *(When(monitor_id__in=ids, then=Value(q)) for q, ids in sorted(by_quorum.items())),
        default=Value(1),
        output_field=IntegerField(),
    )
    return (
        ProbeResult.objects.filter(monitor_id__in=list(need), started_at__gte=since)
        .order_by()
        .values(
            "monitor_id",
            "measurement",
            # Rows without a measurement are rounds of their own.
            solo=Case(When(measurement__isnull=True, then=F("pk")), output_field=IntegerField()),
        )
        .annotate(
            need=quorum_of_row,
            round_at=Min("started_at"),
            round_day=Min(TruncDate("started_at", tzinfo=UTC)),
            failed=Count("pk", filter=~_OK),
            ok_rows=Count("pk", filter=_OK),
            ok_ms=Sum("response_ms", filter=_OK),
            low_ms=Min("response_ms", filter=_OK),
            high_ms=Max("response_ms", filter=_OK),
        )
    )


def round_counts(
    need: Mapping[int, int], since: datetime, *, by_day: bool = False
) -> dict[Any, dict[str, Any]]:
    """Per monitor (or per (monitor, UTC day) with `by_day`): rounds ("checks"), up rounds
    ("ok") and the ok checks' response times ("avg", "low", "high", over every location).
    One query: the rounds grouped in a subquery, counted around it."""
    if not need:
        return {}
    inner, params = _rounds(need, since).query.sql_with_params()
    q = connection.ops.quote_name
    keys = f"r.{q('monitor_id')}" + (f", r.{q('round_day')}" if by_day else "")
    # The ORM cannot group the rows of a grouped query again; the SQL is built only from the
    # compiled inner query (its values stay parameters) and fixed, quoted column names.
    sql = (
        f"SELECT {keys}, COUNT(*), "  # noqa: S608
        f"SUM(CASE WHEN r.{q('failed')} < r.{q('need')} THEN 1 ELSE 0 END), "
        f"SUM(r.{q('ok_ms')}), SUM(r.{q('ok_rows')}), MIN(r.{q('low_ms')}), "
        f"MAX(r.{q('high_ms')}) FROM ({inner}) r GROUP BY {keys}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    found: dict[Any, dict[str, Any]] = {}
    for row in rows:
        key = (row[0], _day(row[1])) if by_day else row[0]
        # PostgreSQL sums integers as numeric: Decimal here, hence the conversions.
        checks, ok, ms, ok_rows, low, high = row[1 + by_day :]
        found[key] = {
            "checks": int(checks),
            "ok": int(ok or 0),
            "avg": float(ms) / int(ok_rows) if ok_rows and ms is not None else None,
            "low": None if low is None else float(low),
            "high": None if high is None else float(high),
        }
    return found


def _day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def down_rounds_covered(
    need: Mapping[int, int], spans: Mapping[int, Sequence[Span]], since: datetime
) -> list[tuple[int, datetime]]:
    """(monitor id, time) of the down rounds since `since` inside their monitor's maintenance
    `spans` (merged, sorted): maintenance, not downtime. One query, as maintenance_failures."""
    spans = {pk: s for pk, s in spans.items() if pk in need and s and s[-1][1] > since}
    if not spans:
        return []
    start = max(since, min(s[0][0] for s in spans.values()))
    rows = (
        _rounds({pk: need[pk] for pk in spans}, start)
        .filter(round_at__lt=max(s[-1][1] for s in spans.values()), failed__gte=F("need"))
        .values_list("monitor_id", "round_at")
    )
    return [(pk, at) for pk, at in rows.iterator() if covers(list(spans[pk]), at)]


def round_points(
    need: Mapping[int, int], since: datetime
) -> dict[int, list[tuple[datetime, float | None, str]]]:
    """Each round as a check for the charts, oldest first: (time, the mean response time of its
    ok rows when the round is up, "ok" or "failed")."""
    found: dict[int, list[tuple[datetime, float | None, str]]] = {pk: [] for pk in need}
    if not need:
        return found
    rows = (
        _rounds(need, since)
        .order_by("monitor_id", "round_at")
        .values_list("monitor_id", "round_at", "failed", "need", "ok_ms", "ok_rows")
    )
    for pk, at, failed, q, ms, ok_rows in rows.iterator():
        if failed >= q:
            found[pk].append((at, None, Status.FAILED))
        else:
            mean = ms / ok_rows if ok_rows and ms is not None else None
            found[pk].append((at, mean, Status.OK))
    return found


@dataclass(frozen=True)
class RoundBeat:
    """One round as a beat of the monitor's heartbeat bar: its verdict, not any one location's.
    `pk` is a row of the round (a failed one when the round is down), whose result page shows
    every location of the round side by side."""

    pk: int
    status: str
    started_at: datetime
    response_ms: float | None
    note: str
    error_code: str = ""
    error_message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == Status.OK


def round_beats(monitor_id: int, need: int, limit: int, *, count: int) -> list[RoundBeat]:
    """The monitor's last `limit` rounds, oldest first, judged by its quorum `need` as uptime
    is; `count`: the locations a round runs at. Two queries (`monitors_round_beats`)."""
    return monitors_round_beats({monitor_id: (need, count)}, limit)[monitor_id]


def monitors_round_beats(
    plans: Mapping[int, tuple[int, int]], limit: int
) -> dict[int, list[RoundBeat]]:
    """`round_beats` of many monitors (`round_plans`: id -> (quorum, locations)) in two
    queries, however many there are. Each monitor's rounds are grouped only over its rows since
    its (2 x limit x locations)-th newest (an index range per monitor, the most locations among
    them), not its whole history: twice, as rounds where a vantage did not answer store fewer
    rows; the oldest round, maybe cut, is never among the `limit` newest."""
    found: dict[int, list[RoundBeat]] = {pk: [] for pk in plans}
    if not plans:
        return found
    depth = 2 * limit * max(max(count, 1) for _, count in plans.values())
    newest = ProbeResult.objects.filter(monitor_id=OuterRef("pk")).order_by("-started_at")
    cuts = {
        pk: cut or _EPOCH
        for pk, cut in Monitor.objects.filter(pk__in=list(plans))
        .annotate(cut=Subquery(newest.values("started_at")[depth - 1 : depth]))
        .values_list("pk", "cut")
    }
    recent = Q()
    for pk, at in cuts.items():
        recent |= Q(monitor_id=pk, started_at__gte=at)
    grouped = (
        _rounds({pk: need for pk, (need, _) in plans.items()}, min(cuts.values(), default=_EPOCH))
        .filter(recent)
        .annotate(failed_pk=Min("pk", filter=~_OK), first_pk=Min("pk"))
        .order_by("monitor_id", "-round_at", "-first_pk")
    )
    for r in grouped:
        beats = found[r["monitor_id"]]
        if len(beats) < limit:
            beats.append(_beat(r))
    return {pk: beats[::-1] for pk, beats in found.items()}


def _beat(r: Mapping[str, Any]) -> RoundBeat:
    failed, answered = r["failed"], r["failed"] + r["ok_rows"]
    down = failed >= r["need"]
    mean = r["ok_ms"] / r["ok_rows"] if r["ok_rows"] and r["ok_ms"] is not None else None
    note = f"{failed} of {answered} location{'s' * (answered != 1)} failed"
    note += f" (quorum {r['need']})" if failed else ""
    return RoundBeat(
        pk=r["failed_pk"] if down else r["first_pk"],
        status=Status.FAILED if down else Status.OK,
        started_at=r["round_at"],
        response_ms=None if down else mean,
        note=note,
    )
