"""What a reply counts as: "safe" only when the whole message says so; a late SMS reply is
kept as late, as link and email answers are."""

from __future__ import annotations

import pytest
from django.test import Client

from modules.sos import services
from modules.sos.inbound.keywords import Intent, parse_reply
from modules.sos.models import AlertEvent
from modules.sos.roll_call import alert_roll_call
from modules.sos.tests.inbound_peers import TWILIO_TOKEN, post_twilio

pytestmark = pytest.mark.django_db

ANN = "+15555550100"


@pytest.fixture(autouse=True)
def _twilio(settings):
    settings.SOS_TWILIO_AUTH_TOKEN = TWILIO_TOKEN


def sms(body: str, sid: str = "SM0001") -> dict[str, str]:
    return {"MessageSid": sid, "AccountSid": "AC1", "From": ANN, "To": "+18005550199", "Body": body}


@pytest.mark.parametrize("text", ["1", "SAFE", "safe!", " Safe. ", "OK", "1)", "ok!!"])
def test_a_safe_keyword_alone_is_safe(text):
    assert parse_reply(text).intent == Intent.SAFE


@pytest.mark.parametrize(
    "text", ["1 person trapped here", "OK so I need help", "Ok, my leg is broken", "SAFE but hurt"]
)
def test_a_safe_keyword_followed_by_text_is_never_safe(text):
    parsed = parse_reply(text)
    assert parsed.intent == Intent.NOTE
    assert parsed.note == text


def test_help_with_text_stays_need_help():
    parsed = parse_reply("HELP trapped on 3rd floor")
    assert (parsed.intent, parsed.note) == (Intent.HELP, "trapped on 3rd floor")
    assert parse_reply("2 trapped").intent == Intent.HELP


def test_ok_means_nothing_in_an_email():
    assert parse_reply("OK", channel="email").intent == Intent.OTHER
    assert parse_reply("SAFE", channel="email").intent == Intent.SAFE


def test_an_sms_with_a_safe_keyword_and_text_is_a_note_the_roll_call_shows(make_contact):
    make_contact("Ann", phone=ANN, groups=["ops"])
    alert = services.alert_raise(message="Fire in building B", groups=["ops"]).alert
    response = post_twilio(Client(), sms("1 person trapped here"))
    assert "Noted" in response.content.decode()
    delivery = alert.deliveries.get()
    assert delivery.last_answer != "safe"
    (person,) = alert_roll_call(alert=alert).people
    assert person.status == "received"
    assert person.note == "1 person trapped here"


def test_a_note_after_need_help_keeps_need_help(make_contact):
    make_contact("Ann", phone=ANN, groups=["ops"])
    alert = services.alert_raise(message="Fire in building B", groups=["ops"]).alert
    post_twilio(Client(), sms("HELP", sid="SM1"))
    post_twilio(Client(), sms("OK they are coming", sid="SM2"))
    (person,) = alert_roll_call(alert=alert).people
    assert (person.status, person.note) == ("need_help", "OK they are coming")


def test_an_sms_reply_after_the_alert_closed_is_kept_as_late(make_contact, dispatch):
    make_contact("Ann", phone=ANN, groups=["ops"])
    alert = services.alert_raise(message="Fire in building B", groups=["ops"]).alert
    dispatch()
    services.alert_resolve(alert=alert)
    response = post_twilio(Client(), sms("2 still inside"))
    assert response.status_code == 200
    delivery = alert.deliveries.get()
    assert (delivery.last_answer, delivery.answered_late, delivery.answer) == (
        "need_help",
        True,
        "",
    )
    assert delivery.answer_note == "still inside"
    assert AlertEvent.objects.filter(kind="late_answer", delivery=delivery).exists()
    assert AlertEvent.objects.get(kind="reply").delivery == delivery
