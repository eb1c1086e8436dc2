"""Uptime, charts, status-page bars and the dashboard card of a monitor run from several
locations count rounds: a round is down when at least the monitor's quorum of its locations
failed, so one location failing alone under a quorum of 2 of 3 leaves the monitor at 100 %, as
its own state says; hub-only monitors count check by check, as ever."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from modules.netprobe import services, status
from modules.netprobe.models import Monitor, ProbeResult
from modules.netprobe.selectors import monitors_series, monitors_uptime
from modules.netprobe.status_snapshot import page_snapshot
from modules.netprobe.views import card_context

from .locations_support import multi_monitor as monitor
from .locations_support import play
from .support import make_result

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("np_settings")]


def status_page(*monitors: Monitor, slug: str = "acme"):
    return status.status_page_save(
        title="Acme",
        slug=slug,
        groups=[{"name": "All", "monitors": [m.pk for m in monitors]}],
    )


def shown(snapshot, monitor_id):
    return next(m for g in snapshot["groups"] for m in g["monitors"] if m["id"] == monitor_id)


def bar(snapshot, monitor_id):
    """The days of the 90-day bar that have data."""
    return [d for d in shown(snapshot, monitor_id)["days"] if d["state"] != "nodata"]


def test_one_location_always_failing_under_a_quorum_of_2_is_100_percent_up(answers):
    m = monitor(quorum=2)
    play(m, answers, *["oxo"] * 6)
    m.refresh_from_db()
    assert m.state == "up"

    uptime = services.monitor_uptime(m, "24h")
    points = services.monitor_series(m, "24h")
    snapshot = page_snapshot(status_page(m))

    assert (uptime.checks, uptime.ok, uptime.uptime_percent) == (6, 6, 100.0)
    assert uptime.avg_response_ms is not None
    assert [p.failures for p in points] == [0] * 6
    assert all(p.response_ms is not None for p in points)
    assert shown(snapshot, m.pk)["uptime_percent"] == 100.0
    assert [(d["state"], d["checks"], d["down"]) for d in bar(snapshot, m.pk)] == [("up", 6, 0)]
    assert snapshot["status"]["indicator"] == "operational"


def test_rounds_where_the_quorum_failed_count_down(answers):
    m = monitor(quorum=2)
    play(m, answers, "oxo", "xxo", "oxo", "oxx", "xox", "ooo")

    uptime = services.monitor_uptime(m, "24h")
    points = services.monitor_series(m, "24h")
    snapshot = page_snapshot(status_page(m))

    assert (uptime.checks, uptime.ok, uptime.uptime_percent) == (6, 3, 50.0)
    assert [p.failures for p in points] == [0, 1, 0, 1, 1, 0]
    assert [p.response_ms is None for p in points] == [False, True, False, True, True, False]
    day = bar(snapshot, m.pk)
    assert [(d["state"], d["checks"], d["down"]) for d in day] == [("down", 6, 3)]
    assert shown(snapshot, m.pk)["uptime_percent"] == 50.0


def test_the_monitors_current_quorum_judges_every_round(answers):
    strict = monitor(quorum=1, name="strict")
    loose = monitor(quorum=3, name="loose")
    majority = monitor(name="majority")  # 2 of 3
    for m in (strict, loose, majority):
        play(m, answers, "oxo", "xxo", "xxx", "ooo")

    found = monitors_uptime([strict.pk, loose.pk, majority.pk], "24h")

    assert [found[m.pk].ok for m in (strict, loose, majority)] == [1, 3, 2]
    assert {found[m.pk].checks for m in (strict, loose, majority)} == {4}


def test_a_vantage_that_did_not_answer_is_no_failure(answers):
    m = monitor(quorum=2)
    play(m, answers, "x??", "?x?", "o?o")

    uptime = services.monitor_uptime(m, "24h")

    assert (uptime.checks, uptime.ok) == (3, 3)


def test_rounds_keep_their_own_utc_day_on_the_bar(answers):
    m = monitor(quorum=2)
    rounds = play(m, answers, "xxo", "oxo")
    yesterday = timezone.now() - timedelta(days=1)
    ProbeResult.objects.filter(measurement=rounds[0].rows[0].measurement).update(
        started_at=yesterday
    )

    days = bar(page_snapshot(status_page(m)), m.pk)

    assert [(d["date"], d["state"], d["checks"]) for d in days] == [
        (yesterday.date().isoformat(), "down", 1),
        (timezone.now().date().isoformat(), "up", 1),
    ]


def test_a_down_round_inside_maintenance_counts_as_maintenance(answers):
    m = monitor(quorum=2)
    now = timezone.now()
    status.maintenance_save(
        title="Upgrade",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        recurrence="once",
        timezone="UTC",
        monitors=[m],
    )
    play(m, answers, "xxo", "oxo")
    spans = {m.pk: [(now - timedelta(hours=1), now + timedelta(hours=1))]}

    uptime = monitors_uptime([m.pk], "24h", maintenance=spans)[m.pk]
    days = bar(page_snapshot(status_page(m)), m.pk)

    assert (uptime.checks, uptime.ok, uptime.maintenance, uptime.uptime_percent) == (2, 1, 1, 100.0)
    assert [(d["state"], d["down"], d["maintenance"]) for d in days] == [("maintenance", 0, 1)]


def test_checks_from_before_the_monitor_had_several_locations_count_one_by_one(answers):
    m = monitor(quorum=2)
    for ok in (True, False, False):
        make_result(monitor=m, status="ok" if ok else "failed", ago=timedelta(hours=2))
    play(m, answers, "oxo")

    uptime = services.monitor_uptime(m, "24h")
    points = services.monitor_series(m, "24h")

    assert (uptime.checks, uptime.ok) == (4, 2)
    assert [p.failures for p in points] == [0, 1, 1, 0]


def test_hub_only_monitors_still_count_each_check(answers):
    hub = Monitor.objects.create(name="hub", kind="tcp", target="hub.example:443")
    for ok in (True, False, True, True):
        make_result(monitor=hub, status="ok" if ok else "failed")
    multi = monitor(quorum=2)
    play(multi, answers, "oxo")

    found = monitors_uptime([hub.pk, multi.pk], "24h")
    series = monitors_series([hub.pk, multi.pk], "24h")

    assert (found[hub.pk].checks, found[hub.pk].ok) == (4, 3)
    assert (found[multi.pk].checks, found[multi.pk].ok) == (1, 1)
    assert [p.failures for p in series[hub.pk]] == [0, 1, 0, 0]
    assert [p.failures for p in series[multi.pk]] == [0]


def test_the_pages_say_100_percent_and_the_card_no_failure(answers, viewer, rf):
    m = monitor(quorum=2)
    play(m, answers, *["oxo"] * 3)
    client = Client()
    client.force_login(viewer)

    page = client.get(f"/netprobe/monitors/{m.pk}/").content.decode()
    listing = client.get("/netprobe/monitors/").content.decode()
    stats = {s["label"]: s["value"] for s in card_context(rf.get("/"))["stats"]}

    assert page.count("100.00 %") == 3  # 24 h, 7 d, 30 d
    assert "3 rounds" in page
    assert '<td class="num">100.00 %</td>' in listing
    assert (stats["Probes (24 h)"], stats["Failed (24 h)"]) == (3, 0)
    assert card_context(rf.get("/"))["status"] == "ok"


def test_the_latest_checks_name_their_location_on_a_multi_location_monitor(answers, viewer):
    m = monitor(quorum=2)
    play(m, answers, "oxo")
    hub = Monitor.objects.create(name="hub", kind="tcp", target="hub.example:443")
    make_result(monitor=hub)
    client = Client()
    client.force_login(viewer)

    multi_page = client.get(f"/netprobe/monitors/{m.pk}/").content.decode()
    hub_page = client.get(f"/netprobe/monitors/{hub.pk}/").content.decode()

    table = multi_page[multi_page.index('id="results-title"') :]
    assert "<th>Location</th>" in table
    cells = re.findall(r'<td class="np-location">([^<]+)</td>', table)
    assert sorted(cells) == ["ap-south-1", "eu-west-1", "local"]
    assert "<th>Location</th>" not in hub_page[hub_page.index('id="results-title"') :]


def test_a_status_page_of_many_multi_location_monitors_costs_the_same_few_queries(answers):
    def served(count: int) -> int:
        monitors = [monitor(quorum=2, name=f"m{count}-{i}") for i in range(count)]
        for m in monitors:
            play(m, answers, "oxo", "xxo")
        hub = Monitor.objects.create(name=f"hub{count}", kind="tcp", target="hub.example:443")
        make_result(monitor=hub)
        everywhere = services.monitor_create(
            name=f"all{count}", kind="http", target="http://shop.example/", locations=["all"]
        )
        page = status_page(*monitors, hub, everywhere, slug=f"page-{count}")
        with CaptureQueriesContext(connection) as queries:
            assert Client().get(f"/status/{page.slug}/").status_code == 200
        return len(queries)

    one, many = served(1), served(6)

    assert one <= 10
    assert many == one
