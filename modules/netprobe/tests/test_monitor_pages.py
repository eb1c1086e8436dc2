"""Monitor pages: the heartbeat bar, "down since" / "up for", the live part that refreshes,
pause and resume, and "Monitor this…" from a result."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from modules.netprobe.models import Monitor, MonitorTransition, ProbeResult

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


def new_monitor(**fields) -> Monitor:
    values = {"name": "Shop", "kind": "http", "target": "https://shop.example/", "state": "up"}
    return Monitor.objects.create(**{**values, **fields})


def beats(page: str) -> list[str]:
    """The heartbeat bar's items, oldest first, as their class attribute."""
    bar = re.search(r'<ol class="np-beats" id="heartbeat"[^>]*>(.*?)</ol>', page, re.S)
    assert bar is not None, "no heartbeat bar"
    return re.findall(r'<li class="(np-beat [^"]*)"', bar.group(1))


def clear_of_the_minutes_turn() -> None:
    """The live part is redrawn when the minute turns (its "3 min ago" texts change): a test that
    compares two answers waits out a minute's last ten seconds."""
    second = timezone.now().second
    if second >= 50:
        time.sleep(61 - second)


def transition(monitor: Monitor, to_state: str, ago: timedelta, from_state: str = "unknown"):
    return MonitorTransition.objects.create(
        monitor=monitor, from_state=from_state, to_state=to_state, at=timezone.now() - ago
    )


# --- the heartbeat bar ----------------------------------------------------------------------


def test_the_heartbeat_bar_shows_the_last_50_checks_oldest_first(viewer_client):
    monitor = new_monitor()
    for minute in range(60, 0, -1):  # 60 checks, the newest a minute ago
        failed = minute in (1, 20)
        make_result(
            monitor=monitor,
            status="failed" if failed else "ok",
            error_message="connection refused" if failed else "",
            response_ms=None if failed else 40.0 + minute,
            ago=timedelta(minutes=minute),
        )
    make_result(monitor=None, status="failed", ago=timedelta(seconds=5))  # another monitor's

    page = viewer_client.get(f"/netprobe/monitors/{monitor.pk}/").content.decode()

    shown = beats(page)
    assert len(shown) == 50
    assert shown[-1] == "np-beat np-beat-failed"  # the newest, a minute ago, on the right
    assert shown.count("np-beat np-beat-failed") == 2
    assert shown.count("np-beat np-beat-ok") == 48
    assert "48 ok, 2 failed" in page


def test_each_beat_says_when_and_what_in_words_and_links_to_its_result(viewer_client):
    monitor = new_monitor()
    failed = make_result(
        monitor=monitor,
        status="failed",
        error_code="connect",
        error_message="connection refused",
        ago=timedelta(minutes=2),
    )
    ok = make_result(monitor=monitor, response_ms=42.4, ago=timedelta(minutes=1))

    page = viewer_client.get(f"/netprobe/monitors/{monitor.pk}/").content.decode()

    stamp = timezone.localtime(failed.started_at).strftime("%Y-%m-%d %H:%M:%S")
    title = f"{stamp} UTC · failed · connect: connection refused"
    assert f'<a href="/netprobe/results/{failed.pk}/" title="{title}">' in page
    # The words are in the page for screen readers, not only in a colour and a tooltip.
    assert f'<span class="np-sr">{title}</span>' in page
    assert re.search(rf'href="/netprobe/results/{ok.pk}/" title="[^"]* · ok · 42 ms"', page)


def test_a_new_monitor_has_an_empty_bar_of_50_slots(viewer_client):
    monitor = new_monitor(state="unknown")
    make_result(monitor=monitor)

    page = viewer_client.get(f"/netprobe/monitors/{monitor.pk}/").content.decode()

    shown = beats(page)
    assert len(shown) == 50
    assert shown.count("np-beat np-beat-none") == 49
    assert shown[-1] == "np-beat np-beat-ok"


def test_the_monitor_list_shows_each_monitors_last_20_checks(viewer_client):
    monitor = new_monitor(name="Listed")
    for minute in range(25, 0, -1):
        make_result(
            monitor=monitor,
            status="timeout" if minute == 1 else "ok",
            ago=timedelta(minutes=minute),
        )

    listing = viewer_client.get("/netprobe/monitors/").content.decode()

    bar = re.search(
        r'<ol class="np-beats np-beats-mini" aria-label="([^"]*)">(.*?)</ol>', listing, re.S
    )
    assert bar is not None
    assert bar.group(1) == "Listed: 19 ok, 1 timed out"
    items = re.findall(r'<li class="np-beat np-beat-(\w+)"', bar.group(2))
    assert len(items) == 20
    assert items[-1] == "timeout"


# --- down since / up for ----------------------------------------------------------------------


def test_a_down_monitor_says_since_when(viewer_client):
    monitor = new_monitor(state="down")
    transition(monitor, "up", timedelta(hours=5))
    went_down = transition(monitor, "down", timedelta(minutes=38, seconds=30), from_state="up")

    page = viewer_client.get(f"/netprobe/monitors/{monitor.pk}/").content.decode()

    when = timezone.localtime(went_down.at).strftime("%Y-%m-%d %H:%M")
    assert re.search(rf"Down since <strong><time [^>]*>{when}</time></strong>", page)
    assert "for 38 min</span>" in page


def test_an_up_monitor_says_for_how_long(viewer_client):
    monitor = new_monitor(state="up")
    transition(monitor, "up", timedelta(hours=3, minutes=12, seconds=30))

    page = viewer_client.get(f"/netprobe/monitors/{monitor.pk}/").content.decode()
    listing = viewer_client.get("/netprobe/monitors/").content.decode()

    assert "Up for <strong>3 h 12 min</strong>" in page
    assert "for 3 h 12 min" in listing


def test_a_state_reached_seconds_ago_is_not_given_in_seconds(viewer_client):
    monitor = new_monitor(state="up")
    transition(monitor, "up", timedelta(seconds=20))

    page = viewer_client.get(f"/netprobe/monitors/{monitor.pk}/").content.decode()

    assert "Up for <strong>less than a minute</strong>" in page


def test_no_duration_is_made_up_when_the_last_change_led_elsewhere(viewer_client):
    monitor = new_monitor(state="up")  # set by hand: no transition led to it
    transition(monitor, "down", timedelta(hours=1))

    page = viewer_client.get(f"/netprobe/monitors/{monitor.pk}/").content.decode()

    assert "Up for" not in page
    assert 'id="monitor-state">up</span>' in page


# --- the live part ----------------------------------------------------------------------------


def test_the_monitor_page_polls_its_live_part_from_a_container_that_stays(viewer_client):
    monitor = new_monitor()

    page = viewer_client.get(f"/netprobe/monitors/{monitor.pk}/?window=7d").content.decode()

    container = re.search(r'<div id="monitor-live"([^>]*)>', page)
    assert container is not None
    attributes = container.group(1)
    assert f'hx-get="/netprobe/monitors/{monitor.pk}/live/?window=7d"' in attributes
    assert 'hx-trigger="every 5s"' in attributes
    assert 'hx-swap="innerHTML"' in attributes  # the polling element is never replaced
    assert 'hx-include="find input[name=v]"' in attributes


def test_the_live_part_answers_204_until_something_changes(viewer_client):
    monitor = new_monitor()
    make_result(monitor=monitor, ago=timedelta(minutes=5))
    url = f"/netprobe/monitors/{monitor.pk}/live/"
    clear_of_the_minutes_turn()

    first = viewer_client.get(url)
    body = first.content.decode()
    version = re.search(r'<input type="hidden" name="v" value="([0-9a-f]+)">', body)
    assert version is not None
    same = viewer_client.get(url, {"v": version.group(1)})
    newer = make_result(monitor=monitor, status="failed", ago=timedelta(seconds=1))
    changed = viewer_client.get(url, {"v": version.group(1)})

    assert first.status_code == 200
    assert "<html" not in body
    assert "hx-get" not in body  # only the content: the polling container stays as it is
    assert len(beats(body)) == 50
    assert "no-cache" in first["Cache-Control"]
    assert same.status_code == 204
    assert changed.status_code == 200
    assert f"/netprobe/results/{newer.pk}/" in changed.content.decode()


def test_the_monitor_list_refreshes_the_same_way(viewer_client):
    monitor = new_monitor(name="Listed")
    page = viewer_client.get("/netprobe/monitors/").content.decode()
    live = viewer_client.get("/netprobe/monitors/live/")
    version = re.search(r'name="v" value="([0-9a-f]+)"', live.content.decode())
    assert version is not None
    same = viewer_client.get("/netprobe/monitors/live/", {"v": version.group(1)})
    monitor.state = "down"
    monitor.save()
    changed = viewer_client.get("/netprobe/monitors/live/", {"v": version.group(1)})

    assert 'hx-get="/netprobe/monitors/live/"' in page
    assert "Listed" in live.content.decode()
    assert same.status_code == 204
    assert 'class="badge badge-down"' in changed.content.decode()


def test_a_signed_out_page_reloads_instead_of_showing_the_login_form_inside(client):
    monitor = new_monitor()

    live = client.get(f"/netprobe/monitors/{monitor.pk}/live/", headers={"HX-Request": "true"})

    assert live.status_code == 200
    assert live["HX-Refresh"] == "true"
    assert live.content == b""


def test_a_page_whose_monitor_was_deleted_reloads_to_say_so(viewer_client):
    pk = new_monitor().pk
    Monitor.objects.filter(pk=pk).delete()

    live = viewer_client.get(f"/netprobe/monitors/{pk}/live/")

    assert live["HX-Refresh"] == "true"
    assert viewer_client.get(f"/netprobe/monitors/{pk}/").status_code == 404


def test_accounts_without_a_role_get_no_live_part(client, django_user_model):
    monitor = new_monitor()
    client.force_login(django_user_model.objects.create_user("nobody"))

    assert client.get(f"/netprobe/monitors/{monitor.pk}/live/").status_code == 403


# --- pause and resume -------------------------------------------------------------------------


def test_an_operator_pauses_and_resumes_a_monitor(operator_client):
    monitor = new_monitor()

    page = operator_client.get(f"/netprobe/monitors/{monitor.pk}/").content.decode()
    paused = operator_client.post(f"/netprobe/monitors/{monitor.pk}/pause/", follow=True)
    monitor.refresh_from_db()
    state_when_paused = (monitor.enabled, monitor.state, monitor.next_run_at)
    paused_page = paused.content.decode()
    resumed = operator_client.post(f"/netprobe/monitors/{monitor.pk}/resume/", follow=True)
    monitor.refresh_from_db()

    assert f'action="/netprobe/monitors/{monitor.pk}/pause/"' in page
    assert state_when_paused == (False, "paused", None)
    assert "paused: it runs no check until resumed" in paused_page
    assert f'action="/netprobe/monitors/{monitor.pk}/resume/"' in paused_page
    assert 'id="pause-button"' not in paused_page
    assert re.search(r"Paused since <time ", paused_page)
    assert (monitor.enabled, monitor.state) == (True, "unknown")
    assert monitor.next_run_at is not None
    assert 'id="pause-button"' in resumed.content.decode()
    reasons = list(monitor.transitions.order_by("at", "id").values_list("to_state", flat=True))
    assert reasons == ["paused", "unknown"]


def test_viewers_cannot_pause_and_pausing_takes_a_post(viewer_client, operator):
    monitor = new_monitor()

    page = viewer_client.get(f"/netprobe/monitors/{monitor.pk}/").content.decode()
    refused = viewer_client.post(f"/netprobe/monitors/{monitor.pk}/pause/")
    viewer_client.force_login(operator)
    by_get = viewer_client.get(f"/netprobe/monitors/{monitor.pk}/pause/")
    missing = viewer_client.post("/netprobe/monitors/999999/resume/")

    assert "pause-button" not in page
    assert refused.status_code == 403
    assert by_get.status_code == 405
    assert missing.status_code == 404
    monitor.refresh_from_db()
    assert monitor.enabled


# --- "Monitor this…" ----------------------------------------------------------------------------


def test_monitor_this_opens_the_form_with_the_probes_kind_target_and_options(operator_client):
    row = make_result(
        kind="http",
        target="https://example.com/health",
        options={"method": "HEAD", "keyword": "UP", "follow_redirects": False, "timeout": 3.0},
    )

    result_page = operator_client.get(f"/netprobe/results/{row.pk}/").content.decode()
    form = operator_client.get(f"/netprobe/monitors/new/?result={row.pk}").content.decode()

    assert f'href="/netprobe/monitors/new/?result={row.pk}"' in result_page
    assert '<option value="http" selected>' in form
    assert 'value="https://example.com/health"' in form
    assert 'name="name" value="HTTP example.com/health"' in form
    assert 'name="http-keyword" value="UP"' in form
    assert 'name="http-timeout" value="3.0"' in form
    assert '<option value="HEAD" selected>' in form
    assert re.search(r'<input type="checkbox" id="id_http-follow_redirects" [^>]*name=', form)
    assert 'name="http-follow_redirects" checked' not in form


def test_the_suggested_name_names_the_probe_and_is_not_taken(operator_client):
    new_monitor(name="HTTP example.com")
    root = make_result(kind="http", target="https://example.com/")
    mx = make_result(kind="dns", target="example.com", options={"record_type": "MX"})
    tcp = make_result(kind="tcp", target="db.example:5432")

    def suggested(row: ProbeResult) -> str:
        form = operator_client.get(f"/netprobe/monitors/new/?result={row.pk}").content.decode()
        found = re.search(r'name="name" value="([^"]*)"', form)
        assert found is not None
        return found.group(1)

    assert suggested(root) == "HTTP example.com 2"
    assert suggested(mx) == "DNS MX example.com"
    assert suggested(tcp) == "TCP db.example:5432"


def test_an_unknown_or_bad_result_id_gives_the_empty_form(operator_client):
    for query in ("?result=999999", "?result=abc", "?result=" + "9" * 40):
        response = operator_client.get(f"/netprobe/monitors/new/{query}")
        assert response.status_code == 200
        assert 'name="name" value=' not in response.content.decode()


# --- relative times ---------------------------------------------------------------------------


def test_a_check_seconds_ago_was_just_now_not_0_minutes_ago(viewer_client):
    monitor = new_monitor()
    make_result(monitor=monitor, ago=timedelta(seconds=10))
    make_result(monitor=monitor, ago=timedelta(minutes=3, seconds=30))  # 30 s from either text

    pages = [
        viewer_client.get("/netprobe/").content.decode(),
        viewer_client.get("/netprobe/history/").content.decode(),
        viewer_client.get(f"/netprobe/monitors/{monitor.pk}/").content.decode(),
    ]

    for page in pages:
        assert "0 minutes" not in page
        assert re.search(r"<time [^>]*>just now</time>", page)
        assert re.search(r"<time [^>]*>3 min ago</time>", page)
