"""The roll-call page: one row per person with their latest answer, counts, filters, a banner
for everyone who needs help, live while answers can come in, in a constant number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from modules.sos import services
from modules.sos.answers import AnswerLocation
from modules.sos.models import Contact, Group
from modules.sos.tests.test_views import login
from portal.test import browser_login, browser_page, make_user

PHONE = {"width": 390, "height": 800}


@pytest.fixture
def alert(make_contact):
    make_contact("Ann", email="ann@example.com", phone="+15555550101", groups=["floor 2"])
    make_contact("Bob", email="bob@example.com", groups=["floor 2", "wardens"])
    make_contact("Cid", email="cid@example.com", groups=["floor 3"])
    make_contact("Dee", email="dee@example.com", groups=["floor 3"])
    return services.alert_raise(message="Evacuate", groups=["floor 2", "floor 3"]).alert


def answer(alert, name, kind, value, *, minutes=0, **extra):
    delivery = alert.deliveries.get(contact__name=name, kind=kind)
    now = timezone.now() + timedelta(minutes=minutes)
    return services.delivery_answer(delivery=delivery, answer=value, now=now, **extra)


def page(client, alert, query="") -> str:
    response = client.get(f"/sos/alerts/{alert.pk}/roll-call/{query}")
    assert response.status_code == 200
    return response.content.decode()


def rows(html: str) -> list[str]:
    import re

    return re.findall(r'<tr id="rc-[cd]\d+" data-status="(\w+)"', html)


def test_it_shows_one_row_per_person_with_the_latest_answer_of_any_channel(viewer, alert):
    answer(alert, "Ann", "email", "safe", minutes=1)
    answer(alert, "Ann", "sms", "need_help", minutes=2, note="Smoke in stairwell B")
    answer(alert, "Bob", "email", "received")
    answer(alert, "Cid", "email", "safe")
    html = page(login(viewer), alert)
    assert rows(html) == ["need_help", "no_answer", "received", "safe"]  # urgent first
    assert 'id="rc-count-need_help" class="tone-down">1<' in html
    assert 'id="rc-count-no_answer" class="tone-warn">1<' in html
    assert 'id="rc-count-received" class="tone-info">1<' in html
    assert 'id="rc-count-safe" class="tone-ok">1<' in html
    assert "Received, safety not stated" in html
    assert "they are not counted as safe" in html
    assert "4 people." in html
    assert "<script>" not in html
    assert " style=" not in html


def test_the_dashboard_card_counts_who_needs_help_by_their_latest_answer(alert, rf):
    from modules.sos.views import card_context

    def need_help() -> int:
        stats = {s["label"]: s["value"] for s in card_context(rf.get("/"))["stats"]}
        return stats.get("Need help", 0)

    answer(alert, "Ann", "email", "safe", minutes=1)
    assert need_help() == 0
    answer(alert, "Ann", "email", "need_help", minutes=2)  # the same link, a later answer
    assert need_help() == 1


def test_it_puts_a_banner_on_top_for_everyone_who_needs_help(viewer, alert):
    answer(
        alert,
        "Ann",
        "sms",
        "need_help",
        note="Trapped in room 204",
        location=AnswerLocation(48.137154, 11.576124, 20.0),
    )
    answer(alert, "Dee", "email", "need_help")
    html = page(login(viewer), alert, "?status=safe")  # banners ignore the filters
    banner, table = html.split('id="rc-state"')
    assert "Ann needs help" in banner
    assert "“Trapped in room 204”" in banner
    assert "https://www.openstreetmap.org/?mlat=48.137154&amp;mlon=11.576124" in banner
    assert "(± 20 m)" in banner
    assert "Dee needs help" in banner
    assert "No location shared." in banner
    assert banner.count('role="alert"') == 2
    assert "Ann" not in table.split("<tbody>")[1]


def test_a_deleted_contact_still_counts_as_a_person(viewer, alert):
    answer(alert, "Dee", "email", "safe")
    Contact.objects.filter(name="Dee").delete()
    html = page(login(viewer), alert, "?status=safe")
    assert "Dee" in html
    assert rows(html) == ["safe"]


def test_it_filters_by_status_group_and_text(viewer, alert):
    answer(alert, "Ann", "email", "need_help", note="Near the LIFT")
    answer(alert, "Bob", "email", "safe")
    client = login(viewer)
    assert rows(page(client, alert, "?status=safe")) == ["safe"]
    wardens = Group.objects.get(name="wardens").pk
    assert "Bob" in page(client, alert, f"?group={wardens}").split("<tbody>")[1]
    floor3 = Group.objects.get(name="floor 3").pk
    assert rows(page(client, alert, f"?group={floor3}")) == ["no_answer", "no_answer"]
    assert rows(page(client, alert, "?q=lift")) == ["need_help"]  # a note matches too
    assert rows(page(client, alert, "?q=cI")) == ["no_answer"]
    assert "Nobody matches these filters." in page(client, alert, "?q=zzz")
    assert len(rows(page(client, alert, "?status=bogus&group=x"))) == 4


def test_the_live_part_keeps_polling_until_the_alert_closes_and_then_shows_the_final_state(
    viewer, alert, settings
):
    client = login(viewer)
    live = client.get(f"/sos/alerts/{alert.pk}/roll-call/live/?status=safe").content.decode()
    assert 'hx-trigger="every 1500ms"' in live
    assert f"/sos/alerts/{alert.pk}/roll-call/live/?status=safe" in live  # the filters stay
    services.alert_resolve(alert=alert)
    closed = client.get(f"/sos/alerts/{alert.pk}/roll-call/live/").content.decode()
    assert "Final state: the alert was resolved" in closed
    # Links still take answers after the end: the page keeps checking, more slowly.
    assert 'hx-trigger="every 10000ms"' in closed
    answer(alert, "Cid", "email", "need_help", note="Still inside")
    closed = client.get(f"/sos/alerts/{alert.pk}/roll-call/live/").content.decode()
    assert "Cid needs help" in closed
    assert "after the end" in closed
    settings.SOS_ACK_MAX_AGE_DAYS = 1
    alert.__class__.objects.filter(pk=alert.pk).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    expired = client.get(f"/sos/alerts/{alert.pk}/roll-call/live/").content.decode()
    assert "hx-trigger" not in expired
    assert "The links have expired" in expired


def test_an_incident_alert_counts_on_it_and_cant_help(viewer, make_contact):
    make_contact("Ann", email="ann@example.com", groups=["oncall"])
    make_contact("Bob", email="bob@example.com", groups=["oncall"])
    alert = services.alert_raise(message="db01 down", groups=["oncall"], source="netprobe").alert
    answer(alert, "Ann", "email", "on_it")
    html = page(login(viewer), alert)
    assert "responders answer “On it” or “Can't help”" in html
    assert 'id="rc-count-on_it" class="tone-ok">1<' in html
    assert 'id="rc-count-cant_help">0<' in html
    assert 'id="rc-count-safe"' not in html


def test_the_alert_page_links_to_its_roll_call(viewer, alert):
    html = login(viewer).get(f"/sos/alerts/{alert.pk}/").content.decode()
    assert f'href="/sos/alerts/{alert.pk}/roll-call/" id="roll-call-link"' in html


def test_the_roll_call_needs_a_login(db, alert):
    for url in ("roll-call/", "roll-call/live/", "roll-call.csv"):
        response = Client().get(f"/sos/alerts/{alert.pk}/{url}")
        assert response.status_code == 302, url


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_the_number_of_queries_does_not_grow_with_the_recipients(viewer, make_contact):
    client = login(viewer)
    counts = []
    for n in (3, 30):
        for i in range(n):
            make_contact(
                f"P{n}-{i}",
                email=f"p{n}{i}@example.com",
                phone=f"+1555555{n:02d}{i:02d}",
                groups=[f"g{n}", f"h{n}-{i % 3}"],
            )
        alert = services.alert_raise(message="Fire", groups=[f"g{n}"]).alert
        for d in alert.deliveries.all()[: n // 2]:
            services.delivery_answer(delivery=d, answer="need_help", note="x")
        base = f"/sos/alerts/{alert.pk}/roll-call"
        counts.append([queries(client, u) for u in (f"{base}/", f"{base}/live/", f"{base}.csv")])
    assert counts[0] == counts[1], counts


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_call_for_help_with_a_location_reaches_the_live_roll_call(
    chromium, live_server, make_contact, artifacts_dir
):
    from modules.sos.ack_links import ack_token

    make_user("victor", role="viewer")
    for name in ("Ann Example-Longname", "Bob", "Cid"):
        make_contact(name, email=f"{name[:3].lower()}@example.com", groups=["floor 2"])
    alert = services.alert_raise(message="Evacuate floor 2 now", groups=["floor 2"]).alert
    bob = alert.deliveries.get(contact__name="Bob")
    services.delivery_answer(delivery=bob, answer="safe")
    ann = alert.deliveries.get(contact__name__startswith="Ann")
    with browser_page(live_server.url) as page:
        browser_login(page, "victor")
        page.goto(f"/sos/alerts/{alert.pk}/roll-call/")
        assert page.inner_text("#rc-count-need_help") == "0"
        # Ann answers from her phone's browser, sharing where she is.
        other = page.context.browser.new_context(
            base_url=live_server.url,
            geolocation={"latitude": 48.137154, "longitude": 11.576124, "accuracy": 25},
            permissions=["geolocation"],
        )
        phone = other.new_page()
        phone.goto(f"/sos/ack/{ack_token(ann.pk)}/")
        phone.click("[data-ack-share]")
        phone.wait_for_function("document.getElementById('ack-latitude').value !== ''")
        phone.fill("#ack-note", 'Trapped in room 204, =HYPERLINK("x")')
        phone.click("button[value=need_help]")
        assert "was recorded" in phone.inner_text("#ack-result")
        phone.screenshot(path=str(artifacts_dir / "sos-ack-answered.png"), full_page=True)
        other.close()
        # The operator's page shows it without a reload.
        banner = page.locator(".sos-rc-banner")
        banner.wait_for(timeout=15_000)
        text = banner.inner_text()
        assert "Ann Example-Longname needs help" in text
        assert "Trapped in room 204" in text
        href = banner.locator("a").get_attribute("href")
        assert href.startswith("https://www.openstreetmap.org/?mlat=48.137154&mlon=11.576124")
        assert page.inner_text("#rc-count-need_help") == "1"
        page.screenshot(path=str(artifacts_dir / "sos-roll-call.png"), full_page=True)
        page.set_viewport_size(PHONE)
        page.reload()
        page.locator(".sos-rc-banner").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        wrap = page.eval_on_selector(
            "#rc-people", "t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]"
        )
        assert wrap[0] <= wrap[1], "the roll-call table scrolls sideways"
        assert page.locator(".sos-rc-banner").bounding_box()["width"] <= PHONE["width"]
        page.screenshot(path=str(artifacts_dir / "sos-roll-call-phone.png"), full_page=True)
        assert page.console_errors == []
