"""The monitor response-time chart: its x-axis spans the checks (a new monitor's few are not a
sliver at the edge of the window), with tick labels at round times; 7 d / 30 d views too."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import pytest
from django.utils import timezone

from modules.netprobe.models import Monitor, ProbeResult
from modules.netprobe.present import MIN_SPAN, chart, time_ticks
from modules.netprobe.selectors import monitor_series

from .support import make_result

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("np_settings")]
WIDTH = 600


def new_monitor(*minutes_ago: float) -> Monitor:
    monitor = Monitor.objects.create(name="New", kind="tcp", target="new.example:443")
    for minutes in minutes_ago:
        make_result(monitor=monitor, ago=timedelta(minutes=minutes), response_ms=20.0 + minutes)
    return monitor


def xs(c: dict) -> list[float]:
    return [float(point.split(",")[0]) for point in c["points"].split()]


def test_spans_a_new_monitors_chart_from_its_first_check_to_now():
    now = timezone.now()
    monitor = new_monitor(20, 15, 10, 5, 1)

    charts = {}
    for window, span in (("24h", timedelta(hours=24)), ("7d", timedelta(days=7))):
        points = monitor_series(monitor, window, now=now)
        charts[window] = (chart(points, now - span, now, width=WIDTH), points)

    for c, points in charts.values():
        assert c["start"] == points[0].at
        assert c["end"] == now
        assert c["partial"] is True
        # The 19 minutes between the first and last check fill most of the width (in a 24 h
        # range they would be the last 1.4 %).
        assert xs(c)[0] == 0.0
        assert xs(c)[-1] > 0.9 * WIDTH
        labels = [t["label"] for t in c["ticks"]]
        assert 3 <= len(labels) <= 6
        assert all(len(label) == 5 and label[2] == ":" for label in labels)  # HH:MM
        assert all(0 <= t["x"] <= WIDTH for t in c["ticks"])
        assert all(t["at"].minute % 5 == 0 and t["at"].second == 0 for t in c["ticks"])


def test_each_window_starts_at_its_own_first_check():
    now = timezone.now()
    monitor = new_monitor(30 * 60, 23 * 60, 1)  # 30 h, 23 h and 1 min ago

    day = chart(monitor_series(monitor, "24h", now=now), now - timedelta(hours=24), now)
    week = chart(monitor_series(monitor, "7d", now=now), now - timedelta(days=7), now)

    first, second = monitor.results.order_by("started_at").values_list("started_at", flat=True)[:2]
    assert day["start"] == second
    assert week["start"] == first
    assert xs(day)[0] == xs(week)[0] == 0.0
    assert 3 <= len(day["ticks"]) <= 6


def test_a_single_fresh_check_gets_a_readable_minimum_span():
    now = timezone.now()
    monitor = new_monitor(0.1)

    c = chart(monitor_series(monitor, "24h", now=now), now - timedelta(hours=24), now)

    assert c["start"] == now - MIN_SPAN
    assert len(c["dots"]) == 1
    assert [t["at"].second for t in c["ticks"]] == [0] * len(c["ticks"])


def test_no_check_yet_keeps_the_window():
    now = timezone.now()

    c = chart([], now - timedelta(days=30), now)

    assert c["start"] == now - timedelta(days=30)
    assert c["checks"] == 0
    assert 3 <= len(c["ticks"]) <= 6


@pytest.mark.parametrize(
    ("span", "step"),
    [
        (timedelta(minutes=5), timedelta(minutes=1)),
        (timedelta(hours=3), timedelta(minutes=30)),
        (timedelta(hours=24), timedelta(hours=6)),
        (timedelta(days=7), timedelta(days=2)),
        (timedelta(days=30), timedelta(days=7)),
    ],
)
def test_ticks_fall_on_round_times(span, step):
    end = timezone.now()

    ticks = time_ticks(end - span, end)

    assert 2 <= len(ticks) <= 6
    gaps = {b["at"] - a["at"] for a, b in pairwise(ticks)}
    assert gaps == {step}
    assert all(0 <= t["pct"] <= 88 for t in ticks)  # none under the "now" label
    if step >= timedelta(days=1):
        assert all(t["label"][:3].isalpha() for t in ticks)  # "Nov 28"


def test_a_young_monitors_many_checks_are_bucketed_over_its_own_age():
    monitor = new_monitor()
    now = timezone.now()
    ProbeResult.objects.bulk_create(
        ProbeResult(
            kind="tcp",
            target=monitor.target,
            monitor=monitor,
            status="ok",
            started_at=now - timedelta(minutes=i),
            duration_ms=1,
            response_ms=float(i),
        )
        for i in range(1, 601)
    )

    week = monitor_series(monitor, "7d", now=now, max_points=48)

    # 48 buckets over the 10 hours of checks, not the 3 that 7-day buckets would leave them.
    assert len(week) == 48
    assert sum(p.checks for p in week) == 600
    assert week[0].at < now - timedelta(hours=9)


def test_the_monitor_page_labels_the_axis_from_the_first_check(viewer_client):
    monitor = new_monitor(40, 30, 20, 10)

    page = viewer_client.get(f"/netprobe/monitors/{monitor.pk}/").content.decode()
    c = viewer_client.get(f"/netprobe/monitors/{monitor.pk}/?window=30d").context["chart"]

    assert '<svg class="np-axis-x"' in page
    assert 'class="np-tick"' in page
    assert "The chart starts at the first check in the last 24h" in page
    assert ">now</text>" in page
    assert c["start"] == monitor.results.order_by("started_at").first().started_at
    assert xs(c)[0] == 0.0


def test_the_monitor_page_says_how_to_run_monitors_before_the_first_check(viewer_client):
    monitor = new_monitor()

    page = viewer_client.get(f"/netprobe/monitors/{monitor.pk}/").content.decode()
    listing = viewer_client.get("/netprobe/monitors/").content.decode()

    assert "python manage.py netprobe_run_monitors --loop" in page
    assert "python manage.py netprobe_run_monitors --loop" in listing


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client
