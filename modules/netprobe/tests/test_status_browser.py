"""A public status page in headless Chromium, during an incident and during maintenance."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from modules.netprobe import status
from modules.netprobe.models import Monitor

from .support import make_result

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("np_settings")]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"


@pytest.fixture(autouse=True)
def clear_of_midnight():
    """The live server reads its own clock and the bar counts by UTC day: a test must not
    straddle midnight, so one that would start in its last two minutes waits for it."""
    now = timezone.now()
    left = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1) - now
    if left < timedelta(minutes=2):
        time.sleep(left.total_seconds() + 1)


def within_today(ago: timedelta) -> timedelta:
    """`ago`, shortened when it would reach back into yesterday (UTC)."""
    now = timezone.now()
    return min(ago, now - now.replace(hour=0, minute=0, second=0, microsecond=0))


def _page_with_history() -> tuple[status.StatusPage, Monitor, Monitor]:
    api = Monitor.objects.create(
        name="Public API", kind="tcp", target="api.example:443", state="up"
    )
    db = Monitor.objects.create(name="Database", kind="tcp", target="db.example:5432", state="up")
    for m in (api, db):
        for days in range(0, 40):
            make_result(monitor=m, status="ok", ago=timedelta(days=days, hours=1))
    for hours in range(3):  # an outage five days ago
        make_result(monitor=api, status="failed", ago=timedelta(days=5, hours=hours))
    page = status.status_page_save(
        title="Acme status",
        slug="acme",
        description="Live status of Acme's services.",
        groups=[
            {"name": "Customer facing", "monitors": [api.pk]},
            {"name": "Internal", "monitors": [db.pk]},
        ],
    )
    return page, api, db


def _day_states(page) -> list[str]:
    return page.locator("[data-monitor] rect.st-day").evaluate_all(
        "rects => rects.map(r => r.dataset.state)"
    )


def test_a_status_page_during_an_incident(chromium, live_server, transactional_db):
    from portal.test import browser_page

    page, api, _ = _page_with_history()
    Monitor.objects.filter(pk=api.pk).update(state="down")
    incident = status.incident_create(
        page=page,
        title="Public API returns errors",
        impact="major",
        message="We are investigating elevated error rates.",
        at=timezone.now() - timedelta(minutes=20),
    )
    status.incident_update(
        incident=incident,
        status="identified",
        message="A bad deploy; rolling back.",
        at=timezone.now() - timedelta(minutes=5),
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with browser_page(live_server.url) as browser:
        browser.goto("/status/acme/")  # no login

        assert browser.locator("#overall").inner_text() == "Partial outage"
        card = browser.locator(f"#incident-{incident.pk}")
        assert "Public API returns errors" in card.inner_text()
        timeline = card.locator("li").all_inner_texts()
        assert timeline[0].startswith("Identified — A bad deploy")
        assert timeline[1].startswith("Investigating — We are investigating")
        states = _day_states(browser)
        assert len(states) == 180  # two monitors, 90 days each
        assert states[89 - 5] == "down"
        assert states[0] == "nodata"
        assert browser.locator(f"[data-monitor='{api.pk}'] .st-state").inner_text() == "DOWN"
        browser.screenshot(path=str(SCREENSHOTS / "status-incident.png"), full_page=True)
        assert not [e for e in browser.console_errors if "Content Security Policy" in e]

        browser.set_viewport_size({"width": 390, "height": 844})  # a phone: no sideways scroll
        width = browser.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert width[0] <= width[1]
        browser.screenshot(path=str(SCREENSHOTS / "status-incident-390.png"), full_page=True)


def test_a_status_page_during_maintenance(chromium, live_server, transactional_db):
    from portal.test import browser_page

    page, _, db = _page_with_history()
    now = timezone.now()
    status.maintenance_save(
        title="Database upgrade to PostgreSQL 17",
        description="Writes are paused during the upgrade.",
        starts_at=now - timedelta(minutes=30),
        ends_at=now + timedelta(minutes=90),
        recurrence="once",
        timezone="UTC",
        monitors=[db],
        pages=[page],
    )
    status.maintenance_save(
        title="Weekly network patching",
        starts_at=now + timedelta(days=2),
        recurrence="weekly",
        weekdays=[(now + timedelta(days=2)).weekday()],
        duration_minutes=60,
        timezone="Europe/Berlin",
        pages=[page],
    )
    Monitor.objects.filter(pk=db.pk).update(state="down")
    make_result(monitor=db, status="failed", ago=within_today(timedelta(minutes=10)))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with browser_page(live_server.url) as browser:
        browser.goto("/status/acme/")

        assert browser.locator("#overall").inner_text() == "Under maintenance"
        text = browser.locator("main").inner_text()
        assert "Maintenance in progress: Database upgrade to PostgreSQL 17" in text
        assert "Scheduled maintenance: Weekly network patching" in text
        assert browser.locator(f"[data-monitor='{db.pk}'] .st-state").inner_text() == "MAINTENANCE"
        states = _day_states(browser)
        assert states[-1] == "maintenance"  # today's failure was during maintenance
        assert "down" not in states[90:]
        browser.screenshot(path=str(SCREENSHOTS / "status-maintenance.png"), full_page=True)


def test_an_operator_builds_a_page_and_posts_an_incident_in_the_ui(
    chromium, live_server, transactional_db
):
    from portal.test import browser_login, browser_page, make_user

    make_user("olivia", role="operator")
    api = Monitor.objects.create(name="Public API", kind="tcp", target="api.example:443")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with browser_page(live_server.url) as browser:
        browser_login(browser, "olivia")
        browser.goto("/netprobe/status-pages/")
        browser.click("#new-status-page")
        browser.fill("#id_title", "Acme status")
        browser.fill("#id_slug", "acme")
        browser.check(f"#m{api.pk}-include")
        browser.fill(f"input[name='m{api.pk}-group']", "Customer facing")
        browser.screenshot(path=str(SCREENSHOTS / "status-manage-form.png"), full_page=True)
        browser.click("#status-page-form button[type=submit]")
        browser.wait_for_selector("#incident-form")

        browser.fill("#id_title", "Public API is slow")
        browser.select_option("#id_impact", "minor")
        browser.fill("#id_message", "Latency is up; we are looking into it.")
        browser.click("#incident-form button[type=submit]")
        assert "Incident posted." in browser.locator(".messages").inner_text()
        browser.screenshot(path=str(SCREENSHOTS / "status-manage-detail.png"), full_page=True)

        browser.click("#public-link")
        assert browser.locator("#overall").inner_text() == "Degraded performance"
        assert "Public API is slow" in browser.locator("main").inner_text()
        assert "Customer facing" in browser.locator("main").inner_text()
