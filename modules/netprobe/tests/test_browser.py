"""An operator runs an http probe from the NetProbe page in headless Chromium and reads it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modules.netprobe.models import Monitor
from portal.test import browser_login, browser_page, make_user

from .support import make_result

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("np_settings")]


def test_runs_an_http_probe_from_the_ui_and_shows_the_waterfall(
    chromium, live_server, transactional_db, artifacts_dir, http_server
):
    make_user("olivia", role="operator")
    with browser_page(live_server.url) as page:
        browser_login(page, "olivia")
        page.goto("/netprobe/")

        # netprobe.js shows only the chosen kind's options.
        assert page.locator("#options-http").is_visible()
        assert not page.locator("#options-dns").is_visible()
        page.select_option("#id_kind", "dns")
        assert page.locator("#options-dns").is_visible()
        assert not page.locator("#options-http").is_visible()
        page.select_option("#id_kind", "http")

        page.fill("#id_target", f"{http_server.url}/delay/150")
        page.fill("#id_http-keyword", "delayed")
        page.screenshot(path=str(artifacts_dir / "netprobe-form.png"), full_page=True)
        page.click("#run-button")
        page.wait_for_selector("#waterfall")

        assert page.locator("#result-status").inner_text().lower() == "ok"
        bars = page.locator("#waterfall rect.np-phase")
        assert bars.count() == 4  # dns, connect, ttfb, download (no TLS on http://)
        ttfb = page.locator("#waterfall rect.np-phase-ttfb").bounding_box()
        assert ttfb is not None
        assert ttfb["width"] > 100  # the 150 ms wait dominates the waterfall
        assert "keyword: pass" in page.locator("body").inner_text().lower()
        page.screenshot(path=str(artifacts_dir / "netprobe-http-result.png"), full_page=True)
        assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_a_viewer_reads_monitors_with_charts_but_gets_no_form(
    chromium, live_server, transactional_db, artifacts_dir
):
    make_user("victor", role="viewer")
    monitor = Monitor.objects.create(name="Shop", kind="http", target="https://shop.example/")
    for minutes in range(0, 240, 5):
        failed = 60 <= minutes < 80
        make_result(
            monitor=monitor,
            kind="http",
            target=monitor.target,
            status="failed" if failed else "ok",
            response_ms=None if failed else 80.0 + (minutes * 7) % 45,
            ago=timedelta(minutes=minutes),
        )
    with browser_page(live_server.url) as page:
        browser_login(page, "victor")
        page.goto("/netprobe/")
        assert page.locator("#probe-form").count() == 0
        assert "operators run probes" in page.content()

        page.goto(f"/netprobe/monitors/{monitor.pk}/")
        line = page.locator("svg.np-chart polyline.np-line").bounding_box()
        assert line is not None
        assert line["width"] > 150  # 4 h of a 24 h window
        axis = page.locator("svg.np-axis-x text").all_text_contents()
        assert axis[-1] == "now"
        assert len(axis) >= 3  # round-hour labels over the 4 h of checks
        assert page.locator("svg.np-chart rect.np-fail").count() == 4
        page.screenshot(path=str(artifacts_dir / "netprobe-monitor.png"), full_page=True)
