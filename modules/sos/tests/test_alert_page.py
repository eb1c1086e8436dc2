"""The alert page tells the truth: a stacked bar of what the real dispatcher made of each
delivery against failing peers, live until the alert is closed (204 while nothing changed),
and an event log that names the recipient of every delivery event."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from modules.sos import services
from modules.sos.alert_page import delivery_bar
from modules.sos.models import Alert, AlertEvent, Delivery
from modules.sos.tests.peers import Reply
from portal.test import PASSWORD


def login(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def mixed(make_contact, receiver, smtp_server, dispatch):
    """Six recipients, delivered by the real dispatcher: 3 sent, 1 failed (404), 2 retrying
    (SMTP 451, HTTP 500); then one answers "I need help" and one "I am safe"."""
    smtp_server.handler.mode = "tempfail"
    receiver.script("/cid", Reply(404, body=b"<html><h1>Not Found</h1></html>"))
    receiver.script("/eve", Reply(500, body=b"boom"))
    for name in ("Ann", "Bob", "Cid", "Eve", "Fay"):
        make_contact(name, webhook=receiver.url(f"/{name.lower()}"), groups=["ops"])
    make_contact("Dan", email="dan@example.com", groups=["ops"])
    alert = services.alert_raise(message="Evacuate floor 2", groups=["ops"]).alert
    report = dispatch()
    assert (report.sent, report.failed, report.retrying) == (3, 1, 2)
    answer(alert, "Ann", "need_help", note="Trapped in room 204")
    answer(alert, "Bob", "safe")
    return alert


def answer(alert: Alert, name: str, choice: str, note: str = "") -> None:
    delivery = Delivery.objects.get(alert=alert, contact_name=name)
    services.delivery_answer(delivery=delivery, answer=choice, note=note)


def segments(page: str) -> dict[str, int]:
    found = re.findall(r'data-segment="(\w+)" data-count="(\d+)"', page)
    return {key: int(n) for key, n in found}


def test_the_bar_counts_what_the_dispatcher_made_of_each_delivery(operator, mixed):
    page = login(operator).get(f"/sos/alerts/{mixed.pk}/").content.decode()
    assert segments(page) == {
        "need_help": 1,
        "acknowledged": 1,
        "sent": 1,
        "failed": 1,
        "pending": 2,
    }
    headline = re.search(r'id="headline">([^<]+)<', page).group(1)
    assert headline == "3 of 6 reached, 1 failed, 2 going out, 1 needs help"
    assert "tone-down" in page  # never green while a delivery failed
    assert "100 %" not in page
    # In words, not colour only: the legend and the SVG's label say every count.
    assert 'role="img"' in page
    assert "1 acknowledged (1 safe)" in page
    assert re.search(r'<strong id="seg-failed">1</strong> failed', page)
    assert re.search(r'<strong id="seg-pending">2</strong> going out', page)


def test_the_alerts_list_shows_the_same_bar_and_headline(operator, mixed):
    page = login(operator).get("/sos/").content.decode()
    assert "3 of 6 reached, 1 failed, 2 going out" in page
    assert 'data-segment="failed" data-count="1"' in page


def test_widths_add_up_and_a_lone_failure_still_shows():
    bar = delivery_bar({"sent": 9999, "failed": 1})
    widths = {s.key: s.width for s in bar.shown}
    assert sum(widths.values()) == 1000
    assert widths["failed"] >= 6
    assert bar.headline == "9999 of 10000 reached, 1 failed"
    assert bar.percent == 99  # rounded down: 100 % only when everyone was reached
    assert delivery_bar({"sent": 4}).tone == "ok"
    assert delivery_bar({"sent": 3, "failed": 1}).tone == "down"
    assert delivery_bar({}).headline == "No deliveries"


def test_the_live_part_keeps_answering_while_open_and_stops_after_close(operator, mixed):
    client = login(operator)
    url = f"/sos/alerts/{mixed.pk}/live/"
    first = client.get(url)
    assert first.status_code == 200
    assert first["Cache-Control"].startswith("max-age=0")
    version = re.search(r"\?v=(\w+)", first.content.decode()).group(1)
    assert client.get(url, {"v": version}).status_code == 204  # nothing changed

    answer(mixed, "Fay", "need_help", note="Smoke on the stairs")
    changed = client.get(url, {"v": version})
    assert changed.status_code == 200
    body = changed.content.decode()
    assert "2 need help" in body
    assert 'hx-trigger="every 1500ms"' in body
    version = re.search(r"\?v=(\w+)", body).group(1)
    assert client.get(url, {"v": version}).status_code == 204

    # A second answer's note, or the next escalation step, is a change too.
    answer(mixed, "Fay", "need_help", note="Now on the roof")
    assert client.get(url, {"v": version}).status_code == 200
    version = re.search(r"\?v=(\w+)", client.get(url).content.decode()).group(1)
    Alert.objects.filter(pk=mixed.pk).update(escalation_step=2)
    assert client.get(url, {"v": version}).status_code == 200

    services.alert_resolve(alert=mixed)
    final = client.get(url, {"v": version})
    assert final.status_code == 200
    body = final.content.decode()
    assert 'hx-trigger="every 10000ms"' in body  # late answers may still come in
    assert "the alert is resolved; late answers still show" in body
    assert "2 cancelled" in body


def test_a_late_answer_changes_the_version_too(mixed):
    from modules.sos.alert_page import alert_tally, live_version

    services.alert_resolve(alert=mixed)
    mixed.refresh_from_db()
    before = live_version(mixed, alert_tally(mixed))
    answer(mixed, "Fay", "need_help", note="Still here")
    assert Delivery.objects.get(alert=mixed, contact_name="Fay").answered_late
    assert live_version(mixed, alert_tally(mixed)) != before


def test_a_signed_out_poll_reloads_the_page_instead_of_swapping_in_a_login_form(mixed):
    response = Client().get(f"/sos/alerts/{mixed.pk}/live/")
    assert response.status_code == 200
    assert response["HX-Refresh"] == "true"


def test_every_delivery_event_names_its_recipient(operator, mixed):
    page = login(operator).get(f"/sos/alerts/{mixed.pk}/").content.decode()
    log = page[page.index('id="events"') :]
    for name in ("Ann", "Bob", "Cid", "Eve", "Fay"):
        assert f'<td class="sos-event-who">{name} <span class="muted">· Webhook</span>' in log
    assert '<td class="sos-event-who">Dan <span class="muted">· Email</span>' in log


def test_older_events_fall_back_to_the_delivery_in_constant_queries(operator, mixed):
    client = login(operator)
    url = f"/sos/alerts/{mixed.pk}/"
    dan = Delivery.objects.get(alert=mixed, contact_name="Dan")
    # As the engine wrote them before it named recipients: no recipient in the data.
    AlertEvent.objects.create(alert=mixed, delivery=dan, kind="attempt", message="sent", data={})
    with CaptureQueriesContext(connection) as few:
        page = client.get(url).content.decode()
    assert page.count('<td class="sos-event-who">Dan <span class="muted">· Email</span>') >= 2
    AlertEvent.objects.bulk_create(
        [
            AlertEvent(alert=mixed, delivery=dan, kind="attempt", message="old", data={})
            for _ in range(40)
        ]
    )
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many.captured_queries) == len(few.captured_queries)
