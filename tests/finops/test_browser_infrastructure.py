"""The Infrastructure page in a real browser, on a desktop and on a phone."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from portal.models import TrafficDay
from portal.test import browser_login, browser_page, make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def seed_traffic() -> None:
    today = timezone.localdate()
    for days_ago in range(14):
        day = today - datetime.timedelta(days=days_ago)
        for module, requests, ms in (
            ("portal", 9_000, 60),
            ("netprobe", 120_000, 180),
            ("sos", 30_000, 90),
            ("faces", 6_000, 900),
        ):
            TrafficDay.objects.create(
                day=day, module=module, requests=requests, duration_ms=requests * ms
            )


def test_an_operator_sees_the_costs_and_the_chart(
    chromium, live_server, transactional_db, artifacts_dir
):
    make_user("olivia", role="operator")
    seed_traffic()
    with browser_page(live_server.url) as page:
        browser_login(page, "olivia")
        page.click("text=Infrastructure")
        page.wait_for_selector("svg.fo-chart")
        assert page.locator(".nav-links a[aria-current=page]").inner_text() == "Infrastructure"
        assert page.locator("#fo-crossover").inner_text().endswith("/month")
        # The curves are drawn with our stylesheet under the strict CSP: stroked, not filled.
        stroke = page.evaluate("getComputedStyle(document.querySelector('.fo-lambda')).strokeWidth")
        assert stroke == "3px"
        page.screenshot(path=str(artifacts_dir / "infrastructure.png"), full_page=True)
        page.fill("#id_avg_ms", "-5")
        page.click("text=Compare")
        page.wait_for_selector(".field-error")
        assert "must be more than 0" in page.locator(".field-error").inner_text()
        assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_a_phone_gets_the_page_without_sideways_scrolling(
    chromium, live_server, transactional_db, artifacts_dir
):
    make_user("olivia", role="operator")
    seed_traffic()
    with browser_page(live_server.url) as page:
        page.set_viewport_size({"width": 390, "height": 800})
        browser_login(page, "olivia")
        page.goto("/infrastructure/")
        page.wait_for_selector("svg.fo-chart")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.locator("svg.fo-chart").bounding_box()["width"] <= 390
        page.screenshot(path=str(artifacts_dir / "infrastructure-mobile.png"), full_page=True)
