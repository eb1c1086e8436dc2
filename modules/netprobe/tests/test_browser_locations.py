"""Headless Chromium: a monitor run from three locations shows a heartbeat row per location that
refreshes itself as rounds come in, and a result compares the locations side by side."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from modules.netprobe import views_monitors
from modules.netprobe.models import ProbeResult
from portal.test import browser_login, browser_page, make_user

from .locations_support import multi_monitor, play

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("np_settings")]

SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
ROW_STATE = "document.querySelector('tr[data-location=\"{}\"]').dataset.state"


def wait_until(page, expression: str, timeout_s: float = 15.0) -> None:
    """Poll `expression` in the page (the CSP forbids wait_for_function's eval)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_s} s: {expression}"
        page.wait_for_timeout(200)


def test_the_location_rows_refresh_and_a_result_compares_the_locations(
    chromium, live_server, transactional_db, answers, monkeypatch
):
    monkeypatch.setattr(views_monitors, "LIVE_REFRESH_S", 1)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    make_user("olivia", role="operator")
    m = multi_monitor()
    play(m, answers, "ooo", "ooo", "oxo", "ooo")

    with browser_page(live_server.url) as page:
        browser_login(page, "olivia")
        page.goto(f"/netprobe/monitors/{m.pk}/")
        rows = page.locator("table.np-location-beats tbody tr")
        assert rows.count() == 3
        assert page.evaluate(ROW_STATE.format("eu-west-1")) == "up"
        assert "up at 3 of 3 locations" in page.locator("#state-line").inner_text()

        play(m, answers, "oxx")
        wait_until(page, f"{ROW_STATE.format('ap-south-1')} === 'down'")
        assert "down from 2 of 3 locations" in page.locator("#state-line").inner_text()
        assert page.locator("#heartbeat-location-2 li:not(.np-beat-none)").count() == 5
        page.screenshot(path=str(SCREENSHOTS / "netprobe-monitor-locations.png"), full_page=True)

        last = ProbeResult.objects.filter(monitor=m, location="local").first()
        page.goto(f"/netprobe/results/{last.pk}/")
        compare = page.locator("#locations-compare")
        assert compare.locator("tbody tr").count() == 3
        mark = compare.locator("tr[data-mark=fastest] .np-mark").inner_text()
        assert mark.lower().endswith("fastest")
        page.screenshot(path=str(SCREENSHOTS / "netprobe-result-locations.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        for path in (f"/netprobe/monitors/{m.pk}/", f"/netprobe/results/{last.pk}/"):
            page.goto(path)
            assert page.evaluate(NO_SIDEWAYS_SCROLL), path
        assert page.console_errors == []
