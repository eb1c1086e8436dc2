"""The alert page, the alerts list and the API agree: answers read as the latest one given
(late ones marked), the list turns red when someone needs help, the API's percent counts
recipients reached, and the page keeps checking for late answers while the links work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from modules.sos import services
from modules.sos.alert_page import alert_tally, tally_bar
from modules.sos.models import Alert, Delivery
from modules.sos.outbox.escalation import alerts_escalate_due
from modules.sos.tests.peers import Reply
from modules.sos.tests.test_alert_page import login


@pytest.fixture
def pair(make_contact, receiver, dispatch) -> Alert:
    for name in ("Ann", "Bob"):
        make_contact(name, webhook=receiver.url(f"/{name.lower()}"), groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    dispatch()
    return alert


def answer(alert: Alert, name: str, choice: str) -> None:
    delivery = Delivery.objects.get(alert=alert, contact_name=name)
    services.delivery_answer(delivery=delivery, answer=choice)


def test_the_badges_and_the_answer_column_show_the_latest_answer(viewer, pair):
    answer(pair, "Ann", "safe")
    answer(pair, "Ann", "need_help")
    page = login(viewer).get(f"/sos/alerts/{pair.pk}/").content.decode()
    assert 'id="answers-need_help">need help 1<' in page
    assert 'id="answers-safe">safe 0<' in page
    row = page[page.index(f'id="delivery-{pair.deliveries.get(contact_name="Ann").pk}"') :]
    assert "I need help" in row[: row.index("</tr>")]


def test_a_late_answer_is_marked_on_the_page(viewer, pair):
    services.alert_resolve(alert=pair)
    answer(pair, "Bob", "need_help")
    page = login(viewer).get(f"/sos/alerts/{pair.pk}/").content.decode()
    row = page[page.index(f'id="delivery-{pair.deliveries.get(contact_name="Bob").pk}"') :]
    assert "after the end" in row[: row.index("</tr>")]
    assert 'id="answers-late">1 after the end<' in page


def test_an_incidents_answers_are_shown(viewer, make_contact, receiver, dispatch):
    make_contact("Ann", webhook=receiver.url("/ann"), groups=["oncall"])
    alert = services.alert_raise(message="db down", groups=["oncall"], source="netprobe").alert
    dispatch()
    answer(alert, "Ann", "on_it")
    page = login(viewer).get(f"/sos/alerts/{alert.pk}/").content.decode()
    assert 'id="answers-on_it">on it 1<' in page


def test_the_alerts_list_is_red_when_someone_needs_help(operator, pair):
    answer(pair, "Ann", "safe")
    answer(pair, "Bob", "need_help")
    page = login(operator).get("/sos/").content.decode()
    assert "1 needs help" in page
    assert "tone-down" in page


def test_the_api_percent_counts_recipients_reached_not_rows_done(
    operator_api, make_contact, receiver, dispatch
):
    receiver.script("/ann", Reply(404))
    receiver.script("/bob", Reply(404))
    for name in ("Ann", "Bob"):
        make_contact(name, webhook=receiver.url(f"/{name.lower()}"), groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    dispatch()
    progress = operator_api.get(f"/api/sos/alerts/{alert.pk}/").json()["progress"]
    assert progress == {
        "total": 2,
        "done": 2,
        "percent": 0,
        "finished": True,
        "reached": 0,
        "failed": 2,
    }


def test_the_page_stops_checking_once_the_links_have_expired(viewer, pair, settings):
    services.alert_resolve(alert=pair)
    client = login(viewer)
    assert (
        'hx-trigger="every 10000ms"' in client.get(f"/sos/alerts/{pair.pk}/live/").content.decode()
    )
    settings.SOS_ACK_MAX_AGE_DAYS = 1
    Alert.objects.filter(pk=pair.pk).update(created_at=timezone.now() - timedelta(days=2))
    body = client.get(f"/sos/alerts/{pair.pk}/live/").content.decode()
    assert "hx-trigger" not in body
    assert "final: the alert is resolved" in body


def test_a_reminder_going_out_or_failing_does_not_unreach_anyone(
    viewer, make_contact, receiver, dispatch
):
    receiver.script("/ann", Reply(200), Reply(404))  # the reminder to Ann fails
    for name in ("Ann", "Bob"):
        make_contact(name, webhook=receiver.url(f"/{name.lower()}"), groups=["ops"])
    start = timezone.now()
    alert = services.alert_raise(
        message="Fire", groups=["ops"], require_ack=True, reminder_max=1, now=start
    ).alert
    dispatch(now=start)
    later = start + timedelta(minutes=alert.reminder_interval_min)
    assert alerts_escalate_due(now=later) == 1
    bar = tally_bar(alert_tally(alert))
    assert (bar.reached, bar.going_out) == (2, 0)  # reminders queued: still reached
    dispatch(now=later)
    assert Delivery.objects.get(alert=alert, contact_name="Ann").state == "failed"
    bar = tally_bar(alert_tally(alert))
    assert (bar.reached, bar.failed, bar.tone) == (2, 0, "ok")
    page = login(viewer).get("/sos/").content.decode()
    assert "2 of 2 reached" in page
