"""Headless Chromium: NetProbe pages fit a phone, the monitor page refreshes itself while
checks come in (and leaves the page alone while none do), the monitor form's labels line up."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from modules.netprobe import services, views_monitors
from modules.netprobe.models import Monitor, MonitorTransition
from portal.test import browser_login, browser_page, make_user

from .support import make_result

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("np_settings")]

PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"
LONG_URL = "/a/rather/long/path/that/goes/on/and/on?with=query&and=more-parameters"
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
BEATS = "document.querySelectorAll('#heartbeat li:not(.np-beat-none)').length"
LAST_OK = "document.querySelector('#heartbeat li:last-child').dataset.status === 'ok'"
LINES = "e => new Set([...e.getClientRects()].map(r => Math.round(r.top))).size"


def wait_until(page, expression: str, timeout_s: float = 15.0) -> None:
    """Poll `expression` in the page (the CSP forbids wait_for_function's eval)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_s} s: {expression}"
        page.wait_for_timeout(200)


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def probe(kind: str, target: str, **options):
    spec = services.probe_validate(kind=kind, target=target, options=options)
    return services.probe_run(spec=spec)


def shop_monitor() -> Monitor:
    monitor = Monitor.objects.create(
        name="Shop front page",
        kind="http",
        target="https://shop.example.com/a/rather/long/path/to/the/front/page",
        state="down",
    )
    for minute in range(45, 0, -1):
        status = "timeout" if minute == 9 else "failed" if minute in (3, 2, 1, 30) else "ok"
        make_result(
            monitor=monitor,
            kind="http",
            target=monitor.target,
            status=status,
            error_code="" if status == "ok" else "http",
            error_message="" if status == "ok" else "HTTP 503 Service Unavailable",
            response_ms=None if status != "ok" else 80.0 + (minute * 7) % 45,
            ago=timedelta(minutes=minute),
        )
    now = timezone.now()
    MonitorTransition.objects.create(
        monitor=monitor, from_state="unknown", to_state="up", at=now - timedelta(minutes=45)
    )
    MonitorTransition.objects.create(
        monitor=monitor,
        from_state="up",
        to_state="down",
        at=now - timedelta(minutes=1),
        reason="3 consecutive failure(s); last: http: HTTP 503 Service Unavailable",
    )
    return monitor


def test_netprobe_pages_fit_a_phone_screen(
    chromium, live_server, transactional_db, http_server, https_server, screenshots
):
    make_user("olivia", role="operator")
    monitor = shop_monitor()
    long_http = probe("http", f"{http_server.url}{LONG_URL}")
    tls = probe("tls", f"127.0.0.1:{https_server.port}", servername="localhost")
    make_result(kind="tcp", target="203.0.113.254:65535", status="failed")
    make_result(kind="tcp", target="[2001:db8:85a3:8d3:1319:8a2e:370:7348]:443")

    with browser_page(live_server.url) as page:
        browser_login(page, "olivia")
        page.set_viewport_size(PHONE)

        page.goto("/netprobe/")
        page.screenshot(path=str(screenshots / "netprobe-phone.png"), full_page=True)
        assert page.evaluate(NO_SIDEWAYS_SCROLL), page.evaluate(
            "document.documentElement.scrollWidth"
        )
        kind, target = page.locator("#id_kind").bounding_box(), page.locator("#id_target")
        target_box = target.bounding_box()
        assert target_box["y"] > kind["y"] + kind["height"]  # on a line of its own
        assert target_box["width"] > 250
        help_box = page.locator("#target-help").bounding_box()
        assert help_box["x"] + help_box["width"] <= PHONE["width"]
        # A short address stays on one line: it is never broken in the middle of a number.
        address = page.get_by_role("link", name="203.0.113.254:65535")
        assert address.evaluate(LINES) == 1

        for path in (
            f"/netprobe/monitors/{monitor.pk}/",
            "/netprobe/monitors/",
            f"/netprobe/results/{long_http.pk}/",
            f"/netprobe/results/{tls.pk}/",
            "/netprobe/history/",
            "/netprobe/monitors/new/",
        ):
            page.goto(path)
            assert page.evaluate(NO_SIDEWAYS_SCROLL), path
        page.goto(f"/netprobe/results/{tls.pk}/")
        # Certificate dates are dates, each on one line.
        for date in page.locator("#certificate time.np-when").all():
            assert date.evaluate(LINES) == 1, date.inner_text()
        page.goto(f"/netprobe/monitors/{monitor.pk}/")
        page.screenshot(path=str(screenshots / "netprobe-monitor-phone.png"), full_page=True)
        assert page.console_errors == []


def test_the_monitor_page_refreshes_while_checks_come_in(
    chromium, live_server, transactional_db, screenshots, monkeypatch
):
    monkeypatch.setattr(views_monitors, "LIVE_REFRESH_S", 1)
    make_user("olivia", role="operator")
    monitor = shop_monitor()

    with browser_page(live_server.url) as page:
        browser_login(page, "olivia")
        page.goto(f"/netprobe/monitors/{monitor.pk}/")
        assert page.evaluate(BEATS) == 45
        assert "Down since" in page.locator("#state-line").inner_text()
        title = page.locator("#heartbeat li").last.locator("a").get_attribute("title")
        assert "failed · http: HTTP 503 Service Unavailable" in title
        page.screenshot(path=str(screenshots / "netprobe-monitor-heartbeat.png"), full_page=True)
        page.goto("/netprobe/monitors/")
        page.screenshot(path=str(screenshots / "netprobe-monitors.png"), full_page=True)
        page.goto(f"/netprobe/monitors/{monitor.pk}/")

        # While nothing changes the page is left alone (the live part answers 204).
        if timezone.now().second > 50:  # the minute's turn redraws: keep clear of it
            time.sleep(61 - timezone.now().second)
        page.evaluate("document.getElementById('heartbeat').dataset.mark = 'kept'")
        page.wait_for_timeout(3500)
        assert page.evaluate("document.getElementById('heartbeat').dataset.mark") == "kept"

        # New checks show up, one after the other: the polling goes on after each redraw.
        for n in range(1, 4):
            make_result(monitor=monitor, kind="http", target=monitor.target, response_ms=90.0 + n)
            wait_until(page, f"{BEATS} === {min(45 + n, 50)} && {LAST_OK}")
        assert page.evaluate("document.getElementById('heartbeat').dataset.mark") is None

        # Paused from another tab: this page learns it on its own.
        services.monitor_pause(monitor=monitor)
        wait_until(page, "document.getElementById('monitor-state').textContent === 'paused'")
        page.screenshot(path=str(screenshots / "netprobe-monitor-paused.png"), full_page=True)
        page.reload()
        page.click("#resume-button")
        page.wait_for_selector("#pause-button")
        assert page.locator("#monitor-state").inner_text().lower() == "unknown"
        assert page.console_errors == []


def test_the_monitor_form_labels_line_up(chromium, live_server, transactional_db, screenshots):
    make_user("olivia", role="operator")

    with browser_page(live_server.url) as page:
        browser_login(page, "olivia")
        page.goto("/netprobe/monitors/new/")
        page.screenshot(path=str(screenshots / "netprobe-monitor-form.png"), full_page=True)

        def tops(*ids: str) -> set[int]:
            return {round(page.locator(f"label[for={i}]").bounding_box()["y"]) for i in ids}

        assert len(tops("id_name", "id_kind", "id_target")) == 1
        assert len(tops("id_interval_s", "id_failure_threshold", "id_recovery_threshold")) == 1
        # The inputs under them line up too.
        inputs = {round(page.locator(f"#{i}").bounding_box()["y"]) for i in ("id_name", "id_kind")}
        assert max(inputs) - min(inputs) <= 2
        # A checkbox option sits at the height of the inputs beside it, not below them.
        method = page.locator("#id_http-method").bounding_box()
        follow = page.locator("#id_http-follow_redirects").bounding_box()
        assert method["y"] <= follow["y"] + follow["height"] / 2 <= method["y"] + method["height"]
