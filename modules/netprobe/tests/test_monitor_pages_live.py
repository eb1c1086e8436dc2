"""Monitor pages agree with the status pages on maintenance, keep their actions and SOS column
live, and draw the monitor list in a fixed number of queries."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from modules.netprobe import status
from modules.netprobe.models import Monitor, MonitorTransition

from .support import make_result

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("np_settings")]


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def new_monitor(name: str = "Shop", **fields) -> Monitor:
    values = {"kind": "http", "target": f"https://{name.lower()}.example/", "state": "up"}
    return Monitor.objects.create(name=name, **{**values, **fields})


def live_version(body: str) -> str:
    found = re.search(r'<input type="hidden" name="v" value="([0-9a-f]+)">', body)
    assert found is not None
    return found.group(1)


def clear_of_the_minutes_turn() -> None:
    second = timezone.now().second
    if second >= 50:
        time.sleep(61 - second)


def test_failures_during_maintenance_are_maintenance_on_the_monitor_page(viewer_client):
    monitor = new_monitor()
    now = timezone.now()
    status.maintenance_save(
        title="Upgrade",
        starts_at=now - timedelta(hours=2),
        ends_at=now - timedelta(hours=1),
        recurrence="once",
        timezone="UTC",
        monitors=[monitor],
    )
    make_result(monitor=monitor, status="failed", ago=timedelta(minutes=90))  # in the window
    make_result(monitor=monitor, status="failed", ago=timedelta(minutes=30))
    make_result(monitor=monitor, status="ok", ago=timedelta(minutes=20))

    page = viewer_client.get(f"/netprobe/monitors/{monitor.pk}/").content.decode()

    bar = re.search(r'<ol class="np-beats" id="heartbeat"[^>]*>(.*?)</ol>', page, re.S).group(1)
    looks = re.findall(r'<li class="np-beat (np-beat-\w+)"', bar)
    assert looks[-3:] == ["np-beat-maintenance", "np-beat-failed", "np-beat-ok"]
    assert "during maintenance" in bar  # in words too, for screen readers
    assert "np-swatch np-beat-maintenance" in page  # the legend
    assert re.search(r"Uptime 24h</dt><dd>50\.00 %", page)  # 1 ok of 2 counted
    listed = viewer_client.get("/netprobe/monitors/").content.decode()
    assert "np-beat-maintenance" in listed
    assert "50.00" in listed


def test_the_pause_button_is_live_and_turns_into_resume(operator_client):
    monitor = new_monitor()
    url = f"/netprobe/monitors/{monitor.pk}/live/"
    clear_of_the_minutes_turn()
    first = operator_client.get(url).content.decode()
    assert 'id="pause-button"' in first

    operator_client.post(f"/netprobe/monitors/{monitor.pk}/pause/")
    changed = operator_client.get(url, {"v": live_version(first)})

    assert changed.status_code == 200
    assert 'id="resume-button"' in changed.content.decode()


def test_an_alert_recorded_after_the_change_redraws_the_sos_column(viewer_client):
    monitor = new_monitor(state="down")
    change = MonitorTransition.objects.create(
        monitor=monitor, from_state="up", to_state="down", at=timezone.now()
    )
    url = f"/netprobe/monitors/{monitor.pk}/live/"
    clear_of_the_minutes_turn()
    version = live_version(viewer_client.get(url).content.decode())

    MonitorTransition.objects.filter(pk=change.pk).update(alert_error="SOS is unreachable")
    changed = viewer_client.get(url, {"v": version})

    assert changed.status_code == 200
    assert "SOS is unreachable" in changed.content.decode()


def _monitors_with_history(count: int) -> None:
    for i in range(count):
        monitor = new_monitor(f"m{i}", state="down")
        for minutes in (50, 40, 30):
            make_result(monitor=monitor, status="failed", ago=timedelta(minutes=minutes))
        MonitorTransition.objects.create(
            monitor=monitor, from_state="up", to_state="down", at=timezone.now()
        )
        status.maintenance_save(
            title=f"Nightly {i}",
            starts_at=timezone.now() - timedelta(days=3),
            recurrence="daily",
            duration_minutes=30,
            timezone="UTC",
            monitors=[monitor],
        )


def test_the_monitor_list_costs_the_same_queries_for_2_or_10_monitors(
    viewer_client, django_assert_max_num_queries
):
    _monitors_with_history(2)
    viewer_client.get("/netprobe/monitors/live/")  # the session and user, cached from now on
    with CaptureQueriesContext(connection) as two:
        body = viewer_client.get("/netprobe/monitors/live/").content.decode()
    assert body.count('class="np-beat np-beat-failed"') == 6

    _monitors_with_history(8)
    with django_assert_max_num_queries(len(two)):
        body = viewer_client.get("/netprobe/monitors/live/").content.decode()

    assert body.count('class="np-beat np-beat-failed"') == 30
    assert body.count('<span class="np-sub">for ') == 10  # down since its latest transition
