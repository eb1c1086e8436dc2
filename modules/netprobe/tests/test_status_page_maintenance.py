"""Status pages with many maintenance windows, their times in UTC and their monitor lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from modules.netprobe import status
from modules.netprobe.models import Monitor
from modules.netprobe.status_snapshot import page_snapshot

from .support import make_result

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("np_settings")]


def monitor(name: str) -> Monitor:
    return Monitor.objects.create(name=name, kind="tcp", target=f"{name}.example:443", state="up")


def test_a_page_with_20_daily_windows_is_served_and_counts_maintenance_apart():
    now = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    db = monitor("DB")
    page = status.status_page_save(title="Many", groups=[{"name": "All", "monitors": [db.pk]}])
    for hour in range(20):  # 20 daily one-hour windows since 80 days: 1,600 occurrences
        status.maintenance_save(
            title=f"Nightly {hour}",
            starts_at=(now - timedelta(days=80)).replace(hour=hour, minute=0),
            recurrence="daily",
            duration_minutes=60,
            timezone="UTC",
            monitors=[db],
            pages=[page],
        )
    day = now - timedelta(days=2)
    make_result(monitor=db, status="failed", started_at=day.replace(hour=3, minute=30))
    make_result(monitor=db, status="failed", started_at=day.replace(hour=21, minute=30))
    make_result(monitor=db, status="ok", started_at=day.replace(hour=22))

    response = Client().get(f"/status/{page.slug}/")

    assert response.status_code == 200
    body = page_snapshot(page, now=now)
    (row,) = body["groups"][0]["monitors"]
    entry = next(d for d in row["days"] if d["date"] == day.date().isoformat())
    assert (entry["checks"], entry["maintenance"], entry["down"]) == (3, 1, 1)
    assert row["uptime_percent"] == 50.0


def test_times_on_the_page_and_in_the_feed_are_utc_whatever_the_time_zone():
    api = monitor("API")
    page = status.status_page_save(title="Zones", groups=[{"name": "All", "monitors": [api.pk]}])
    at = datetime(2030, 1, 5, 23, 30, tzinfo=UTC)  # Jan 6, 08:30 in Tokyo
    status.incident_create(page=page, title="Slow", message="Looking", impact="minor", at=at)
    status.maintenance_save(
        title="Upgrade",
        starts_at=timezone.now() + timedelta(days=1, hours=2),
        ends_at=timezone.now() + timedelta(days=1, hours=3),
        recurrence="once",
        timezone="UTC",
        pages=[page],
    )
    window_start = page.maintenance_windows.get().starts_at.astimezone(UTC)

    with override_settings(TIME_ZONE="Asia/Tokyo"):
        html = Client().get(f"/status/{page.slug}/").content.decode()
        feed = Client().get(f"/status/{page.slug}/feed.atom").content.decode()

    assert "Jan 5, 23:30 UTC" in html
    assert f"{window_start:%b} {window_start.day}, {window_start:%H:%M}</time>" in html
    assert "2030-01-05 23:30 UTC" in feed


def test_a_window_names_only_the_monitors_on_the_page():
    shown, hidden = monitor("Shown"), monitor("Hidden")
    page = status.status_page_save(title="Some", groups=[{"name": "All", "monitors": [shown.pk]}])
    status.maintenance_save(
        title="Rack move",
        starts_at=timezone.now() + timedelta(hours=1),
        ends_at=timezone.now() + timedelta(hours=2),
        recurrence="once",
        timezone="UTC",
        monitors=[shown, hidden],
        pages=[page],
    )

    body = Client().get(f"/status/{page.slug}.json").json()

    assert body["maintenance"][0]["monitors"] == [shown.pk]
