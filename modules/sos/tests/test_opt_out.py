"""Carriers' opt-out rules: a number that texted STOP is not sent to (the real dispatcher
sending SMS through moto's SNS shows it), START sends again, and the pages say so."""

from __future__ import annotations

import pytest
from django.test import Client

from modules.sos import services
from modules.sos.inbound.keywords import OPT_IN, OPT_OUT
from modules.sos.models import ContactMethod, Delivery
from modules.sos.tests.inbound_peers import TWILIO_TOKEN, post_sns, post_twilio

ANN, BOB = "+15555550100", "+15555550101"


@pytest.fixture(autouse=True)
def _twilio(settings):
    settings.SOS_TWILIO_AUTH_TOKEN = TWILIO_TOKEN


@pytest.fixture
def people(make_contact):
    make_contact("Ann", phone=ANN, groups=["ops"])
    make_contact("Bob", phone=BOB, groups=["ops"])


def text(body: str, sid: str, sender: str = ANN) -> None:
    params = {"MessageSid": sid, "From": sender, "To": "+18005550199", "Body": body}
    assert post_twilio(Client(), params).status_code == 200


def ann() -> ContactMethod:
    return ContactMethod.objects.get(address=ANN)


def test_an_opted_out_number_is_not_sent_to_and_fails_with_the_reason(aws, people, dispatch):
    text("STOP", "SM1")
    assert ann().opted_out_at is not None
    alert = services.alert_raise(message="Fire in building B", groups=["ops"]).alert
    dispatch()
    assert [sms["phone_number"] for sms in aws.sent_sms()] == [BOB]
    refused = Delivery.objects.get(alert=alert, address=ANN)
    assert refused.state == "failed"
    assert refused.last_error == "recipient opted out (STOP)"
    assert refused.attempts == 1
    assert ann().last_error == ""  # the number is not broken: its owner said no


def test_start_subscribes_again_and_the_next_alert_is_sent(aws, people, dispatch):
    text("stop", "SM1")
    text("Start", "SM2")
    assert ann().opted_out_at is None
    services.alert_raise(message="Fire drill", groups=["ops"])
    dispatch()
    assert sorted(sms["phone_number"] for sms in aws.sent_sms()) == [ANN, BOB]


def test_an_sns_stop_opts_out_too(sns_peer, people):
    assert post_sns(Client(), sns_peer.sms(ANN, "UNSUBSCRIBE")).status_code == 200
    assert ann().opted_out_at is not None


@pytest.mark.parametrize("keyword", sorted(OPT_OUT))
def test_every_carrier_opt_out_keyword_opts_out_whatever_its_case(people, keyword):
    text(f" {keyword.lower()} ", "SM1")
    assert ann().opted_out_at is not None


@pytest.mark.parametrize("keyword", sorted(OPT_IN))
def test_every_carrier_opt_in_keyword_opts_in(people, keyword):
    text("STOP", "SM1")
    text(keyword, "SM2")
    assert ann().opted_out_at is None


def test_stop_inside_a_sentence_is_not_an_opt_out(people):
    services.alert_raise(message="Gas leak", groups=["ops"])
    text("stop the gas at the main valve", "SM1")
    assert ann().opted_out_at is None


def test_stop_is_answered_with_nothing_the_carrier_confirms_it(people):
    params = {"MessageSid": "SM1", "From": ANN, "To": "+18005550199", "Body": "STOP"}
    response = post_twilio(Client(), params)
    assert response.content.decode().endswith("<Response></Response>")


def test_an_open_alert_logs_the_stop_on_the_alert(people):
    alert = services.alert_raise(message="Gas leak", groups=["ops"]).alert
    text("STOP", "SM1")
    event = alert.events.get(kind="reply")
    assert event.data["outcome"] == "opted_out"


def test_the_contact_page_says_the_number_opted_out(people, operator):
    text("STOP", "SM1")
    client = Client()
    client.force_login(operator)
    page = client.get(f"/sos/contacts/{ann().contact_id}/").content.decode()
    assert "opted out (STOP)" in page
    assert "until it texts START" in page


def test_the_api_shows_the_opt_out_read_only(people, operator_api):
    text("STOP", "SM1")
    method = ann()
    url = f"/api/sos/contact-methods/{method.pk}/"
    assert operator_api.get(url).json()["opted_out_at"] is not None
    operator_api.patch(url, {"opted_out_at": None, "label": "mobile"}, format="json")
    method.refresh_from_db()
    assert method.opted_out_at is not None
    assert method.label == "mobile"
    contact = operator_api.get(f"/api/sos/contacts/{method.contact_id}/").json()
    assert contact["methods"][0]["opted_out_at"] is not None


def test_an_opted_out_number_gets_no_twiml_message_but_its_answer_counts(people):
    alert = services.alert_raise(message="Gas leak", groups=["ops"]).alert
    text("STOP", "SM1")
    params = {"MessageSid": "SM2", "From": ANN, "To": "+18005550199", "Body": "SAFE"}
    response = post_twilio(Client(), params)
    assert response.content.decode().endswith("<Response></Response>")
    assert alert.deliveries.get(address=ANN).answer == "safe"


def test_the_opt_out_belongs_to_the_number_not_to_one_contact_method(people, make_contact):
    text("STOP", "SM1")
    again = make_contact("Ann again", phone=ANN, groups=["ops2"]).methods.get()
    assert again.opted_out_at is not None  # a new contact (or an import) of the number
    moved = ContactMethod.objects.get(pk=again.pk)
    moved.address = "+15555550109"
    moved.save()
    assert moved.opted_out_at is None  # the opt-out stays with the number, not the method


def test_a_new_contact_with_an_opted_out_number_is_not_sent_to(aws, people, make_contact, dispatch):
    text("STOP", "SM1")
    make_contact("Ann again", phone=ANN, groups=["ops2"])
    alert = services.alert_raise(message="Gas leak", groups=["ops2"]).alert
    dispatch()
    delivery = alert.deliveries.get()
    assert delivery.state == Delivery.State.FAILED
    assert "opted out" in delivery.last_error
