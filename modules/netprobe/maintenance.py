"""Maintenance windows: when they occur, which is active, and the alerts they silence.

A recurring window keeps its wall-clock time in its own time zone: "daily at 02:00
Europe/Berlin" is 01:00 UTC in winter and 00:00 UTC in summer. An occurrence starting in a DST
gap (02:30 on a spring-forward night) starts an hour later by the clock, the same real time
after midnight; in a repeated hour it starts the first time round. Each lasts
`duration_minutes` of real time.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Prefetch, Q

from modules.netprobe.models import Monitor, MonitorTransition
from modules.netprobe.status_models import MaintenanceWindow

Recurrence = MaintenanceWindow.Recurrence
SUPPRESSED = "alert suppressed: maintenance"
OWED = "alerted when maintenance ended"
# Long enough for any occurrence the forms accept (a week): bounds the query for active ones.
MAX_DURATION = timedelta(days=7)


def zone(name: str) -> ZoneInfo:
    """The window's time zone; raises ValueError naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _local_start(day: date, at: time, tz: ZoneInfo) -> datetime:
    # fold=0 (PEP 495): a time in a gap takes the offset from before the change, so it lands
    # after the gap; a repeated time is its first instance.
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def occurrences(
    window: MaintenanceWindow, since: datetime, until: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """(start, end) of each occurrence overlapping [since, until), in order, in UTC."""
    if window.recurrence == Recurrence.ONCE:
        end = window.ends_at or window.starts_at
        if window.starts_at < until and end > since:
            yield window.starts_at, end
        return
    duration = timedelta(minutes=window.duration_minutes or 0)
    if duration <= timedelta(0):
        return
    tz = zone(window.timezone)
    first = window.starts_at.astimezone(tz)
    day = max(first.date(), (since - duration).astimezone(tz).date() - timedelta(days=1))
    last = until.astimezone(tz).date() + timedelta(days=1)
    days = set(window.weekdays or []) if window.recurrence == Recurrence.WEEKLY else None
    while day <= last:
        if days is None or day.weekday() in days:
            start = _local_start(day, first.time(), tz)
            if window.ends_at is not None and start > window.ends_at:
                return
            if start >= window.starts_at and start < until and start + duration > since:
                yield start, start + duration
        day += timedelta(days=1)


def current_or_next(window: MaintenanceWindow, at: datetime) -> tuple[datetime, datetime] | None:
    """The occurrence under way at `at`, else the next one (looking a year ahead)."""
    return next(occurrences(window, at, at + timedelta(days=366)), None)


def is_active(window: MaintenanceWindow, at: datetime) -> bool:
    found = current_or_next(window, at)
    return found is not None and found[0] <= at < found[1]


def may_be_active(at: datetime) -> Q:
    """A database filter: windows that can have an occurrence at `at` (then check in Python)."""
    once = Q(recurrence=Recurrence.ONCE, starts_at__lte=at, ends_at__gt=at)
    recurring = (
        ~Q(recurrence=Recurrence.ONCE)
        & Q(starts_at__lte=at)
        & (Q(ends_at__isnull=True) | Q(ends_at__gt=at - MAX_DURATION))
    )
    return once | recurring


def active_window(monitor: Monitor, at: datetime) -> MaintenanceWindow | None:
    """The maintenance window covering `monitor` at `at`, if any."""
    candidates = MaintenanceWindow.objects.filter(may_be_active(at), monitors=monitor)
    return next((w for w in candidates if is_active(w, at)), None)


def upcoming(
    windows: Iterable[MaintenanceWindow], at: datetime, horizon: timedelta
) -> list[tuple[MaintenanceWindow, datetime, datetime]]:
    """(window, start, end) of the windows active now or starting within `horizon`, by start."""
    found = []
    for window in windows:
        occurrence = current_or_next(window, at)
        if occurrence is not None and occurrence[0] <= at + horizon:
            found.append((window, *occurrence))
    return sorted(found, key=lambda item: (item[1], item[0].pk))


def alert_suppressed(monitor: Monitor, change: MonitorTransition) -> bool:
    """True when maintenance silences this transition's SOS alert; the reason then says so.

    Going down during a window is silenced. A recovery follows its outage: silenced when the
    outage was (nobody was paged), sent when it was alerted, even inside a window, so the
    open alert is resolved."""
    if change.to_state == Monitor.State.DOWN:
        window = active_window(monitor, change.at)
        if window is None:
            return False
        note = f"{SUPPRESSED} {window.title!r}"
    else:
        outage = (
            MonitorTransition.objects.filter(
                monitor=monitor, to_state=Monitor.State.DOWN, at__lte=change.at
            )
            .exclude(pk=change.pk)
            .values_list("reason", "alert_id")
            .first()
        )
        # Alerted when its window ended (alert_owed): the recovery is sent like any other.
        if outage is None or SUPPRESSED not in outage[0] or outage[1] is not None:
            return False
        note = f"{SUPPRESSED} (the outage was not alerted)"
    reason = f"{change.reason}; {note}" if change.reason else note
    change.reason = reason[:500]
    MonitorTransition.objects.filter(pk=change.pk).update(reason=change.reason)
    return True


def alert_owed(monitor: Monitor, at: datetime) -> MonitorTransition | None:
    """The monitor's outage whose alert maintenance silenced, once no window covers the monitor
    any more: still down, so somebody must be paged now (as Uptime Kuma and PagerDuty do).

    Claimed here, once: the outage's reason gains a note in the same conditional UPDATE, so a
    second runner (or the next run, after an SOS failure recorded on the row) finds nothing."""
    if monitor.state != Monitor.State.DOWN or monitor.sos_group_id is None:
        return None
    outage = MonitorTransition.objects.filter(monitor=monitor, to_state=Monitor.State.DOWN).first()
    if outage is None or SUPPRESSED not in outage.reason or OWED in outage.reason:
        return None
    if outage.alert_id is not None or active_window(monitor, at) is not None:
        return None
    seen, outage.reason = outage.reason, f"{OWED}; {outage.reason}"[:500]  # first: never cut
    claimed = MonitorTransition.objects.filter(pk=outage.pk, reason=seen, alert_id__isnull=True)
    return outage if claimed.update(reason=outage.reason) == 1 else None


Span = tuple[datetime, datetime]


def coverage(
    windows: Iterable[MaintenanceWindow],
    monitor_ids: Iterable[int],
    since: datetime,
    until: datetime,
) -> dict[int, list[Span]]:
    """Per monitor of `monitor_ids`: its windows' occurrences overlapping [since, until), merged
    and sorted (for `covers`). Each window needs `monitor_rows` (prefetched monitors)."""
    wanted = set(monitor_ids)
    found: dict[int, list[Span]] = {}
    for window in windows:
        ids = [m.pk for m in window.monitor_rows if m.pk in wanted]
        for span in occurrences(window, since, until) if ids else ():
            for pk in ids:
                found.setdefault(pk, []).append(span)
    return {pk: _merged(spans) for pk, spans in found.items()}


def coverage_of(
    monitor_ids: Sequence[int], since: datetime, until: datetime
) -> dict[int, list[Span]]:
    """`coverage` of these monitors by their windows, in two queries."""
    windows = (
        MaintenanceWindow.objects.filter(monitors__in=monitor_ids, starts_at__lt=until)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gte=since - MAX_DURATION))
        .distinct()
        .prefetch_related(
            Prefetch("monitors", queryset=Monitor.objects.only("pk"), to_attr="monitor_rows")
        )
    )
    return coverage(windows, monitor_ids, since, until)


def covers(spans: list[Span], at: datetime) -> bool:
    """True when `at` falls in one of the merged, sorted spans."""
    i = bisect_right(spans, at, key=lambda span: span[0]) - 1
    return i >= 0 and at < spans[i][1]


def _merged(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
