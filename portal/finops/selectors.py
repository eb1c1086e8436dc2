"""Reads of the measured traffic."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Min, Sum
from django.utils import timezone

from portal.models import TrafficDay

DAYS_PER_MONTH = 730 / 24  # the month the prices use: 730 hours


@dataclass(frozen=True)
class Traffic:
    """The last `window_days` of counted requests, and what they make in a month."""

    since: datetime.date
    days_counted: int  # days from the first count in the window to today, at most window_days
    requests: int
    duration_ms: int
    rows: list[TrafficDay]

    @classmethod
    def nothing(cls) -> Traffic:
        return cls(since=timezone.localdate(), days_counted=0, requests=0, duration_ms=0, rows=[])

    @property
    def requests_per_month(self) -> float:
        if not self.days_counted:
            return 0.0
        return self.requests * DAYS_PER_MONTH / self.days_counted

    @property
    def avg_ms(self) -> float | None:
        return self.duration_ms / self.requests if self.requests else None


def traffic_measured(*, window_days: int = 30, today: datetime.date | None = None) -> Traffic:
    today = today or timezone.localdate()
    since = today - datetime.timedelta(days=window_days - 1)
    rows = TrafficDay.objects.filter(day__gte=since, day__lte=today)
    totals = rows.aggregate(
        requests=Sum("requests"), duration_ms=Sum("duration_ms"), first=Min("day")
    )
    # A portal counting for 3 days scales 3 days to a month, not 3 days spread over 30.
    days = (today - totals["first"]).days + 1 if totals["first"] else 0
    return Traffic(
        since=since,
        days_counted=days,
        requests=totals["requests"] or 0,
        duration_ms=totals["duration_ms"] or 0,
        rows=list(rows),
    )
