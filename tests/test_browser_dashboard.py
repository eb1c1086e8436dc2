"""A person's first minute: log in with a real browser and see the three module cards."""

from __future__ import annotations

import pytest

from portal.test import browser_login, browser_page, make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_logs_in_and_shows_the_dashboard(chromium, live_server, transactional_db, artifacts_dir):
    make_user("olivia", role="operator")
    with browser_page(live_server.url) as page:
        page.goto("/")
        assert "/accounts/login/" in page.url
        browser_login(page, "olivia")
        page.wait_for_selector("#card-netprobe")
        titles = page.locator(".card h2").all_inner_texts()
        assert titles == ["NetProbe", "SOS Broadcast", "Face Comparison"]
        assert page.locator(".badge-operator").inner_text().lower() == "operator"
        # The stylesheet and htmx load from our own origin under the strict CSP.
        assert page.evaluate("typeof window.htmx") == "object"
        assert (
            page.evaluate("getComputedStyle(document.querySelector('.topbar')).display") == "flex"
        )
        page.screenshot(path=str(artifacts_dir / "dashboard.png"), full_page=True)
        assert not [e for e in page.console_errors if "Content Security Policy" in e]


def test_a_narrow_screen_gets_the_menu_button(
    chromium, live_server, transactional_db, artifacts_dir
):
    make_user("olivia", role="viewer")
    with browser_page(live_server.url) as page:
        page.set_viewport_size({"width": 390, "height": 800})
        browser_login(page, "olivia")
        assert not page.locator("#nav-links").is_visible()
        page.click("[data-nav-toggle]")
        assert page.locator("#nav-links").is_visible()
        page.screenshot(path=str(artifacts_dir / "dashboard-mobile.png"), full_page=True)
