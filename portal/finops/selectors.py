"""Reads of the measured traffic."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Min, Sum
from django.utils import timezone

from portal.models import TrafficDay

DAYS_PER_MONTH = 730 / 24  # the month the prices use: 730 hours
# Today counts for the part of it that has passed, but for an hour at least: the first minutes
# after midnight would otherwise make a month out of a handful of requests.
TODAY_AT_LEAST = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class Traffic:
    """The last `window_days` of counted requests, and what they make in a month."""

    since: datetime.date
    days_counted: int  # days from the first count in the window to today, at most window_days
    days_elapsed: float  # the same days, today only as far as it has gone: what a month scales
    requests: int
    duration_ms: int
    rows: list[TrafficDay]

    @classmethod
    def nothing(cls) -> Traffic:
        return cls(
            since=timezone.localdate(),
            days_counted=0,
            days_elapsed=0.0,
            requests=0,
            duration_ms=0,
            rows=[],
        )

    @property
    def requests_per_month(self) -> float:
        if not self.days_elapsed:
            return 0.0
        return self.requests * DAYS_PER_MONTH / self.days_elapsed

    @property
    def avg_ms(self) -> float | None:
        return self.duration_ms / self.requests if self.requests else None


def traffic_measured(*, window_days: int = 30, now: datetime.datetime | None = None) -> Traffic:
    now = timezone.localtime(now)
    today = now.date()
    since = today - datetime.timedelta(days=window_days - 1)
    rows = TrafficDay.objects.filter(day__gte=since, day__lte=today)
    totals = rows.aggregate(
        requests=Sum("requests"), duration_ms=Sum("duration_ms"), first=Min("day")
    )
    # A portal counting for 3 days scales 3 days to a month, not 3 days spread over 30; and
    # today's counts so far stand for the hours gone by, not for a whole day.
    first = totals["first"]
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today_part = max(now - midnight, TODAY_AT_LEAST) / datetime.timedelta(days=1)
    return Traffic(
        since=since,
        days_counted=(today - first).days + 1 if first else 0,
        days_elapsed=(today - first).days + today_part if first else 0.0,
        requests=totals["requests"] or 0,
        duration_ms=totals["duration_ms"] or 0,
        rows=list(rows),
    )
