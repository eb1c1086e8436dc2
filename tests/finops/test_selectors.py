"""Measured traffic scales to a month by the time it was counted over, today only so far."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from portal.finops.selectors import DAYS_PER_MONTH, traffic_measured
from portal.models import TrafficDay

DAY = datetime.date(2026, 12, 7)


def at(hour: int, minute: int = 0) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(DAY, datetime.time(hour, minute)))


def test_a_first_morning_of_counts_is_scaled_by_the_hours_gone_by(db):
    TrafficDay.objects.create(day=DAY, module="sos", requests=600, duration_ms=60_000)
    traffic = traffic_measured(now=at(6))
    # 600 requests in 6 hours are 2,400 a day, not 600.
    assert traffic.requests_per_month == pytest.approx(2_400 * DAYS_PER_MONTH)
    assert traffic.days_counted == 1


def test_whole_past_days_and_the_part_of_today_make_the_span(db):
    TrafficDay.objects.create(day=DAY - datetime.timedelta(days=2), module="sos", requests=1_000)
    TrafficDay.objects.create(day=DAY, module="faces", requests=500)
    traffic = traffic_measured(now=at(12))
    assert traffic.requests_per_month == pytest.approx(1_500 / 2.5 * DAYS_PER_MONTH)


def test_minutes_after_midnight_count_as_an_hour_not_a_month_of_them(db):
    TrafficDay.objects.create(day=DAY, module="netprobe", requests=10)
    traffic = traffic_measured(now=at(0, 1))
    assert traffic.requests_per_month == pytest.approx(10 * 24 * DAYS_PER_MONTH)
