"""Headless Chromium: an operator raises an alert in the UI and watches it reach everyone;
the alert page's stacked bar with failed, pending and acknowledged deliveries, live."""

from __future__ import annotations

import pytest

from modules.sos import services
from modules.sos.models import Delivery
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
        assert page.inner_text("#headline") == "6 of 6 reached"
        assert page.inner_text("#count-sent") == "6"
        assert page.inner_text("#count-failed") == "0"
        assert page.locator("#deliveries tbody tr").count() == 6
        page.screenshot(path=str(artifacts_dir / "sos-alert-delivered.png"), full_page=True)
        assert page.console_errors == []
    assert len(receiver.requests) == 3


@pytest.mark.django_db(transaction=True)
def test_the_stacked_bar_shows_failed_pending_and_answers_live(
    chromium, live_server, receiver, smtp_server, make_contact, dispatch, artifacts_dir
):
    make_user("olivia", role="operator")
    smtp_server.handler.mode = "tempfail"  # 451: retried later
    receiver.script("/cid", Reply(404, body=b"no such hook"))
    receiver.script("/eve", Reply(500))
    for name in ("Ann", "Bob", "Cid", "Eve", "Fay"):
        make_contact(f"{name} Example", webhook=receiver.url(f"/{name.lower()}"), groups=["ops"])
    make_contact("Dan Example", email="dan@example.com", groups=["ops"])
    alert = services.alert_raise(message="Evacuate floor 2 now", groups=["ops"]).alert
    dispatch()
    for name, choice in (("Ann", "safe"), ("Bob", "safe")):
        delivery = Delivery.objects.get(alert=alert, contact_name=f"{name} Example")
        services.delivery_answer(delivery=delivery, answer=choice)

    with browser_page(live_server.url) as page:
        browser_login(page, "olivia")
        page.goto(f"/sos/alerts/{alert.pk}/")
        headline = "3 of 6 reached, 1 failed, 2 going out"
        assert page.inner_text("#headline") == headline
        label = page.get_attribute(".sos-stack-bar", "aria-label") or ""
        assert label.startswith(headline + ": 2 acknowledged (2 safe); 1 sent")
        for key, count in (("acknowledged", "2"), ("failed", "1"), ("pending", "2")):
            assert page.inner_text(f"#seg-{key}") == count
            box = page.locator(f"rect[data-segment='{key}']").bounding_box()
            assert box is not None, key
            assert box["width"] > 0, key
        page.screenshot(path=str(artifacts_dir / "sos-alert-bar.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 800})
        bar = page.locator(".sos-stack-bar").bounding_box()
        assert bar is not None
        assert bar["x"] + bar["width"] <= 390
        page.screenshot(path=str(artifacts_dir / "sos-alert-bar-phone.png"), full_page=True)

        # Every send has finished; an answer still arrives without a reload.
        fay = Delivery.objects.get(alert=alert, contact_name="Fay Example")
        services.delivery_answer(delivery=fay, answer="need_help", note="Smoke on the stairs")
        page.wait_for_selector("#headline:has-text('1 needs help')", timeout=10_000)
        assert page.inner_text("#seg-need_help") == "1"
        services.alert_resolve(alert=alert)
        page.wait_for_selector("#live-status:has-text('the alert is resolved')", timeout=10_000)
        assert "late answers still show" in page.inner_text("#live-status")
        assert page.console_errors == []


@pytest.mark.django_db(transaction=True)
def test_send_test_shows_its_result_in_place(chromium, live_server, receiver, make_contact):
    make_user("olivia", role="operator")
    receiver.script("/pager", Reply(404, body=b"no such hook"))
    contact = make_contact("Pager", webhook=receiver.url("/pager"))
    method = contact.methods.get()
    with browser_page(live_server.url) as page:
        browser_login(page, "olivia")
        page.goto(f"/sos/contacts/{contact.pk}/")
        page.click(f"[data-test-method='{method.pk}']")
        status = page.wait_for_selector(f"#method-status-{method.pk} [data-test-result='failed']")
        assert "HTTP 404 Not Found: no such hook" in status.inner_text()
        assert page.url.endswith(f"/sos/contacts/{contact.pk}/")  # no navigation
        assert page.console_errors == []
    assert len(receiver.to("/pager")) == 1
