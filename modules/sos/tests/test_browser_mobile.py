"""Headless Chromium at phone width: each delivery is a compact card, its state in view."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from modules.sos import services
from portal.test import browser_login, browser_page, make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 390, "height": 800}
LONG_ERROR = (
    "Connection to http://pager-gateway.example.com:8443/very/long/path/that/does/not/wrap "
    "timed out after 5.0 s (attempt 2 of 5); the gateway may be down or overloaded"
)


@pytest.mark.django_db(transaction=True)
def test_the_delivery_table_fits_a_phone_screen(chromium, live_server, make_contact, artifacts_dir):
    make_user("olivia", role="operator")
    make_contact("Ann Example-Longname", email="ann.example.longname@example.com", groups=["ops"])
    make_contact(
        "Pager", webhook="http://127.0.0.1:9/hooks/pager/with/a/rather/long/path", groups=["ops"]
    )
    make_contact("Bob", phone="+15555550100", groups=["ops"])
    alert = services.alert_raise(
        message="Evacuate floor 2 now", groups=["ops"], require_ack=True
    ).alert
    now = timezone.now()
    ann, pager, bob = (alert.deliveries.get(contact__name__startswith=n) for n in "APB")
    alert.deliveries.filter(pk=ann.pk).update(
        state="acknowledged", attempts=1, sent_at=now, answer="safe", acknowledged_at=now
    )
    alert.deliveries.filter(pk=pager.pk).update(
        attempts=2, last_error=LONG_ERROR, next_attempt_at=now + timedelta(seconds=40)
    )
    alert.deliveries.filter(pk=bob.pk).update(
        state="failed", attempts=5, last_error="The number is not reachable", closed_at=now
    )

    with browser_page(live_server.url) as page:
        browser_login(page, "olivia")
        page.set_viewport_size(PHONE)
        page.goto(f"/sos/alerts/{alert.pk}/")
        page.screenshot(path=str(artifacts_dir / "sos-alert-phone.png"), full_page=True)
        first = page.locator("#deliveries tbody tr").first
        for column in ("state", "answer", "result"):
            cell = first.locator(f"td[data-label='{column.capitalize()}']")
            assert cell.is_visible(), column
            box = cell.bounding_box()
            assert box is not None
            assert box["x"] >= 0, column
            assert box["x"] + box["width"] <= PHONE["width"], (column, box)
        wrap = page.eval_on_selector(
            "#deliveries", "t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]"
        )
        assert wrap[0] <= wrap[1], "the delivery table scrolls sideways"
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        # State and answer lead the card, above the recipient.
        state_y = first.locator("td[data-label='State']").bounding_box()["y"]
        name_y = first.locator("td[data-label='Recipient']").bounding_box()["y"]
        assert state_y < name_y
        # Compact: a card is a few short lines, not a column of wrapped words.
        for row in page.locator("#deliveries tbody tr").all():
            assert row.bounding_box()["height"] <= 150, row.inner_text()
        assert page.get_by_text("Retry", exact=True).is_visible()
        assert page.console_errors == []
