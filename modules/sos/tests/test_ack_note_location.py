"""The acknowledgement page takes a note and, if the browser shares it, a location; its
buttons fit the alert: safety answers for people, "on it" for a monitor or an integration."""

from __future__ import annotations

import pytest
from django.test import Client

from modules.sos import services
from modules.sos.ack_links import ack_token
from modules.sos.answers import NOTE_MAX, AnswerLocation
from modules.sos.errors import InvalidAlert
from modules.sos.models import AlertEvent


@pytest.fixture
def delivery(make_contact):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    alert = services.alert_raise(message="Evacuate floor 2", groups=["ops"]).alert
    return alert.deliveries.get()


def link(delivery) -> str:
    return f"/sos/ack/{ack_token(delivery.pk)}/"


def test_a_note_and_a_location_are_stored_with_the_answer(delivery):
    response = Client().post(
        link(delivery),
        {
            "answer": "need_help",
            "note": "  Trapped in room 204, door jammed  ",
            "latitude": "48.137154",
            "longitude": "-11.576124",
            "accuracy_m": "18",
        },
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Your answer “I need help” was recorded." in page
    assert "Your note: “Trapped in room 204, door jammed”" in page
    assert "your location was shared (48.13715, -11.57612)" in page
    delivery.refresh_from_db()
    assert delivery.state == "acknowledged"
    assert delivery.answer == delivery.last_answer == "need_help"
    assert delivery.answer_note == "Trapped in room 204, door jammed"
    assert (delivery.answer_latitude, delivery.answer_longitude) == (48.137154, -11.576124)
    assert delivery.answer_accuracy_m == 18.0
    assert (delivery.answer_via, delivery.answered_late) == ("link", False)
    assert delivery.answered_at == delivery.acknowledged_at
    event = AlertEvent.objects.get(kind="acknowledged")
    assert event.data["note"] == "Trapped in room 204, door jammed"
    assert event.data["location"] == {"lat": 48.137154, "lon": -11.576124, "accuracy_m": 18.0}
    assert "Trapped in room 204" in event.message


def test_the_page_works_without_a_location_or_a_note(delivery):
    Client().post(link(delivery), {"answer": "safe", "latitude": "", "longitude": ""})
    delivery.refresh_from_db()
    assert delivery.answer == "safe"
    assert delivery.answer_note == ""
    assert delivery.answer_latitude is None


@pytest.mark.parametrize(
    "where",
    [
        {"latitude": "91", "longitude": "0"},
        {"latitude": "0", "longitude": "180.5"},
        {"latitude": "nan", "longitude": "1"},
        {"latitude": "1", "longitude": "inf"},
        {"latitude": "1", "longitude": "2", "accuracy_m": "-3"},
        {"latitude": "1", "longitude": "2", "accuracy_m": "1e9"},
        {"latitude": "north", "longitude": "2"},
        {"latitude": "1"},
    ],
)
def test_a_bad_location_is_dropped_but_the_answer_counts(delivery, where):
    response = Client().post(link(delivery), {"answer": "need_help", **where})
    assert response.status_code == 200
    assert "Your location could not be used" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.answer == "need_help"
    assert delivery.answer_latitude is None


def test_a_long_note_is_cut_to_its_limit_on_the_page(delivery):
    Client().post(link(delivery), {"answer": "need_help", "note": "x" * (NOTE_MAX + 50)})
    delivery.refresh_from_db()
    assert len(delivery.answer_note) == NOTE_MAX
    assert delivery.answer == "need_help"


def test_the_service_refuses_a_note_too_long_and_a_bad_location(delivery):
    with pytest.raises(InvalidAlert):
        services.delivery_answer(delivery=delivery, answer="safe", note="x" * (NOTE_MAX + 1))
    with pytest.raises(InvalidAlert):
        AnswerLocation(latitude=12.0, longitude=200.0)
    with pytest.raises(InvalidAlert):
        services.delivery_answer(delivery=delivery, answer="safe", via="pigeon")  # type: ignore[arg-type]
    delivery.refresh_from_db()
    assert delivery.answer == ""


def test_a_later_answer_without_a_note_keeps_the_earlier_note(delivery):
    services.delivery_answer(delivery=delivery, answer="need_help", note="Room 204")
    services.delivery_answer(
        delivery=delivery, answer="safe", location=AnswerLocation(1.5, 2.5, None), via="sms"
    )
    delivery.refresh_from_db()
    assert (delivery.answer, delivery.last_answer) == ("need_help", "safe")
    assert delivery.answer_note == "Room 204"
    assert (delivery.answer_latitude, delivery.answer_longitude) == (1.5, 2.5)
    assert delivery.answer_via == "sms"


def test_the_page_offers_a_note_field_and_the_location_button_for_the_script(delivery):
    page = Client().get(link(delivery)).content.decode()
    assert 'name="note"' in page
    assert f'maxlength="{NOTE_MAX}"' in page
    assert "data-ack-share" in page
    assert "sos/ack.js" in page
    assert "<script>" not in page
    assert " style=" not in page


def test_a_safety_alert_asks_safe_or_need_help(delivery):
    page = Client().get(link(delivery)).content.decode()
    assert 'value="safe"' in page
    assert 'value="need_help"' in page
    assert 'value="on_it"' not in page


@pytest.mark.parametrize("source", ["netprobe", "pagerduty:db-primary"])
def test_an_incident_alert_asks_on_it_or_cant_help(make_contact, source):
    make_contact("Ann", email="ann@example.com", groups=["oncall"])
    alert = services.alert_raise(
        message="db01 is down", groups=["oncall"], source=source, dedup_key=f"{source}-k"
    ).alert
    delivery = alert.deliveries.get()
    page = Client().get(link(delivery)).content.decode()
    assert ">On it<" in page
    assert ">Can&#x27;t help<" in page
    assert "I am safe" not in page
    Client().post(link(delivery), {"answer": "on_it"})
    delivery.refresh_from_db()
    assert delivery.answer == "on_it"
    assert AlertEvent.objects.get(kind="acknowledged").message == "Ann: On it"


def test_an_information_notice_from_a_monitor_asks_only_to_acknowledge(make_contact):
    make_contact("Ann", email="ann@example.com", groups=["oncall"])
    alert = services.alert_raise(
        message="db01 recovered", severity="info", groups=["oncall"], source="netprobe"
    ).alert
    page = Client().get(link(alert.deliveries.get())).content.decode()
    assert ">Acknowledge<" in page
    assert 'value="on_it"' not in page
