"""Headless Chromium: an operator raises an alert in the UI and watches it reach 100 %."""

from __future__ import annotations

import pytest

from modules.sos.tests.peers import Reply
from portal.test import browser_login, browser_page, make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.django_db(transaction=True)
def test_an_alert_raised_in_the_ui_is_delivered_live_to_100_percent(
    chromium, live_server, settings, receiver, make_contact, artifacts_dir
):
    settings.SOS_WAKE = "thread"  # the live server delivers, as `make run` does
    make_user("olivia", role="operator")
    for i in range(3):
        make_contact(f"Person {i}", email=f"p{i}@example.com", groups=["floor 2"])
        make_contact(f"Pager {i}", webhook=receiver.url(f"/pager{i}"), groups=["floor 2"])
        receiver.script(f"/pager{i}", Reply(200, delay=0.4))  # slow enough to watch it move
    with browser_page(live_server.url) as page:
        page.context.grant_permissions(["geolocation"])
        page.context.set_geolocation(
            {"latitude": 48.137154, "longitude": 11.576124, "accuracy": 30}
        )
        browser_login(page, "olivia")
        page.goto("/sos/")
        page.fill("#id_message", "Evacuate floor 2 now")
        page.select_option("#id_severity", "critical")
        page.get_by_label("floor 2").check()
        page.click("[data-geolocate]")
        page.wait_for_function("document.getElementById('id_latitude').value !== ''")
        assert page.input_value("#id_latitude") == "48.137154"
        assert page.input_value("#id_longitude") == "11.576124"
        page.click("#raise-button")
        page.wait_for_url("**/sos/alerts/*/")
        assert "Evacuate floor 2 now" in page.inner_text("h1 + .sos-message, .sos-message")
        page.wait_for_selector("#live[data-finished='true']", timeout=30_000)
        assert page.inner_text("#percent") == "100 %"
        assert page.inner_text("#count-sent") == "6"
        assert page.inner_text("#count-failed") == "0"
        assert page.locator("#deliveries tbody tr").count() == 6
        page.screenshot(path=str(artifacts_dir / "sos-alert-delivered.png"), full_page=True)
        assert page.console_errors == []
    assert len(receiver.requests) == 3
