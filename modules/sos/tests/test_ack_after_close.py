"""Answers after the end: a closed alert's link shows its final state and keeps a late answer
as late, without changing any delivery's state."""

from __future__ import annotations

import pytest
from django.test import Client

from modules.sos import services
from modules.sos.ack_links import ack_token
from modules.sos.models import AlertEvent


@pytest.fixture
def alert(make_contact):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    make_contact("Bob", email="bob@example.com", groups=["ops"])
    return services.alert_raise(message="Gas leak in lab 3", groups=["ops"]).alert


def link(delivery) -> str:
    return f"/sos/ack/{ack_token(delivery.pk)}/"


@pytest.mark.parametrize("close", ["resolve", "cancel"])
def test_the_link_of_a_closed_alert_shows_its_final_state(alert, dispatch, close):
    dispatch()
    getattr(services, f"alert_{close}")(alert=alert)
    alert.refresh_from_db()
    page = Client().get(link(alert.deliveries.first())).content.decode()
    status = {"resolve": "resolved", "cancel": "cancelled"}[close]
    assert f"This alert was <strong>{status}</strong> on" in page
    assert alert.closed_at.strftime("%Y-%m-%d %H:%M") in page
    assert "answer after the end" in page


@pytest.mark.parametrize("close", ["resolve", "cancel"])
def test_a_first_answer_after_the_end_is_kept_as_late_and_changes_no_state(alert, dispatch, close):
    dispatch()
    getattr(services, f"alert_{close}")(alert=alert)
    ann = alert.deliveries.get(contact_name="Ann")
    response = Client().post(link(ann), {"answer": "need_help", "note": "Still in lab 3"})
    assert response.status_code == 200
    assert "as an answer after the end of the alert" in response.content.decode()
    ann.refresh_from_db()
    assert ann.state == "sent"
    assert ann.answer == ""
    assert ann.acknowledged_at is None
    assert (ann.last_answer, ann.answered_late, ann.answer_note) == (
        "need_help",
        True,
        "Still in lab 3",
    )
    event = AlertEvent.objects.get(kind="late_answer")
    assert event.delivery == ann
    assert "Ann: I need help (after the alert closed)" in event.message
    assert not AlertEvent.objects.filter(kind="acknowledged").exists()


def test_a_cancelled_never_sent_delivery_stays_cancelled(alert):
    services.alert_cancel(alert=alert)
    bob = alert.deliveries.get(contact_name="Bob")
    assert bob.state == "cancelled"
    Client().post(link(bob), {"answer": "safe"})
    bob.refresh_from_db()
    assert bob.state == "cancelled"
    assert bob.answer == ""
    assert bob.closed_at is not None
    assert bob.last_answer == "safe"
    assert bob.answered_late


def test_an_answer_given_before_the_end_stays_the_recorded_one(alert, dispatch):
    dispatch()
    ann = alert.deliveries.get(contact_name="Ann")
    Client().post(link(ann), {"answer": "safe"})
    services.alert_resolve(alert=alert)
    page = Client().post(link(ann), {"answer": "need_help"}).content.decode()
    assert "as an answer after the end" in page
    ann.refresh_from_db()
    assert (ann.state, ann.answer, ann.last_answer) == ("acknowledged", "safe", "need_help")
    assert ann.answered_late
    kinds = list(AlertEvent.objects.filter(delivery=ann).values_list("kind", flat=True))
    assert kinds[-2:] == ["acknowledged", "late_answer"]


def test_late_answers_are_logged_only_up_to_the_cap(alert):
    services.alert_cancel(alert=alert)
    bob = alert.deliveries.get(contact_name="Bob")
    for i in range(services.MAX_REPEAT_ANSWERS + 3):
        Client(REMOTE_ADDR=f"192.0.2.{i + 1}").post(link(bob), {"answer": "safe"})
    assert AlertEvent.objects.filter(kind="late_answer").count() == services.MAX_REPEAT_ANSWERS


def test_the_service_reports_a_late_answer(alert):
    services.alert_resolve(alert=alert)
    ann = alert.deliveries.get(contact_name="Ann")
    result = services.delivery_answer(delivery=ann, answer="safe", via="sms")
    assert (result.recorded, result.late) == (False, True)
    assert result.delivery.answer_via == "sms"
    assert result.delivery.state == "cancelled"
