"""Twilio-shaped inbound SMS: X-Twilio-Signature over the public URL, TwiML answers."""

from __future__ import annotations

import pytest
from django.test import Client

from modules.sos import services
from modules.sos.inbound.twilio import twilio_signature, twilio_signature_valid
from modules.sos.models import AlertEvent, Delivery, InboundMessage
from modules.sos.tests.inbound_peers import TWILIO_PATH, TWILIO_TOKEN, post_twilio

pytestmark = pytest.mark.django_db

ANN = "+15555550100"


@pytest.fixture(autouse=True)
def _twilio(settings):
    settings.SOS_TWILIO_AUTH_TOKEN = TWILIO_TOKEN


@pytest.fixture
def delivery(make_contact):
    make_contact("Ann", phone=ANN, groups=["ops"])
    alert = services.alert_raise(message="Fire in building B", groups=["ops"]).alert
    return alert.deliveries.get()


def sms(body: str, sid: str = "SM0001", sender: str = ANN) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "AccountSid": "AC0001",
        "From": sender,
        "To": "+18005550199",
        "Body": body,
        "NumMedia": "0",
    }


def test_the_signature_is_the_one_in_twilios_documented_example():
    # Twilio's example (webhooks security docs / TwilioDevEd api-snippets): auth token 12345.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    assert twilio_signature("12345", url, params.items()) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert twilio_signature_valid("12345", url, params.items(), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not twilio_signature_valid("54321", url, params.items(), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def test_a_safe_reply_is_recorded_and_confirmed_in_twiml(delivery):
    response = post_twilio(Client(), sms("1"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    text = response.content.decode()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Message>')
    assert f'Recorded "I am safe" for alert #{delivery.alert_id}: Fire in building B' in text
    delivery.refresh_from_db()
    assert (delivery.state, delivery.answer, delivery.answer_via) == ("acknowledged", "safe", "sms")
    event = AlertEvent.objects.get(kind="reply")
    assert event.data["provider"] == "twilio"
    assert event.data["from"] == ANN


def test_help_with_text_records_need_help_and_the_note(delivery):
    response = post_twilio(Client(), sms("Help: trapped on 3rd floor"))
    assert "I need help" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.answer == "need_help"
    assert delivery.answer_note == "trapped on 3rd floor"


def test_a_later_reply_does_not_overwrite_the_first_answer(delivery):
    client = Client()
    post_twilio(client, sms("SAFE", sid="SM1"))
    response = post_twilio(client, sms("HELP", sid="SM2"))
    assert "first answer to alert" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.answer == "safe"
    assert delivery.last_answer == "need_help"


def test_a_reply_with_no_keyword_is_logged_and_answered_with_the_instructions(delivery):
    response = post_twilio(Client(), sms("where do we meet?"))
    assert 'Reply 1 alone for "I am safe"' in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.answer == ""
    assert AlertEvent.objects.get(kind="reply").data["text"] == "where do we meet?"


def test_help_without_an_open_alert_gets_the_info_answer(make_contact):
    make_contact("Ann", phone=ANN)
    response = post_twilio(Client(), sms("HELP"))
    assert "Emergency alerts. Reply 1/SAFE or 2/HELP" in response.content.decode()


def test_several_open_alerts_the_latest_is_answered_and_the_reply_says_so(make_contact):
    make_contact("Ann", phone=ANN, groups=["ops"])
    older = services.alert_raise(message="Flood", groups=["ops"]).alert
    newer = services.alert_raise(message="Fire", groups=["ops"]).alert
    text = post_twilio(Client(), sms("safe")).content.decode()
    assert f"alert #{newer.pk}: Fire (the latest of your 2 open alerts" in text
    assert Delivery.objects.get(alert=older).answer == ""


def test_an_unknown_number_gets_an_empty_answer_and_nothing_changes(delivery):
    response = post_twilio(Client(), sms("SAFE", sender="+15555550177"))
    assert response.status_code == 200
    assert response.content.decode().endswith("<Response></Response>")
    assert not AlertEvent.objects.filter(kind="reply").exists()
    assert InboundMessage.objects.get().outcome == "ignored"


def test_the_same_message_sid_is_applied_once(delivery):
    client = Client()
    post_twilio(client, sms("2 broken leg", sid="SMdup"))
    again = post_twilio(client, sms("2 broken leg", sid="SMdup"))
    assert again.status_code == 200
    assert AlertEvent.objects.filter(kind="reply").count() == 1
    assert InboundMessage.objects.count() == 1


def test_a_wrong_signature_is_refused_and_nothing_is_recorded(delivery):
    response = post_twilio(Client(), sms("SAFE"), token="not-the-token")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "signature_invalid"
    assert not InboundMessage.objects.exists()


def test_a_signature_over_the_internal_url_is_refused(delivery):
    # Behind a proxy this server sees http://testserver; Twilio signed the public URL.
    response = post_twilio(Client(), sms("SAFE"), base="http://testserver")
    assert response.status_code == 403


def test_the_public_base_url_decides_which_url_is_signed(delivery, settings):
    settings.PUBLIC_BASE_URL = "https://portal.example.com"
    response = post_twilio(Client(), sms("SAFE"), base="https://portal.example.com")
    assert response.status_code == 200


def test_a_missing_signature_is_refused(delivery):
    response = post_twilio(Client(), sms("SAFE"), signature="")
    assert response.json()["error"]["code"] == "signature_invalid"


def test_without_an_auth_token_the_endpoint_refuses(settings, delivery):
    settings.SOS_TWILIO_AUTH_TOKEN = ""
    response = post_twilio(Client(), sms("SAFE"))
    assert (response.status_code, response.json()["error"]["code"]) == (
        403,
        "inbound_not_configured",
    )


def test_a_signed_post_without_from_is_a_clear_400(delivery):
    params = sms("SAFE")
    del params["From"]
    response = post_twilio(Client(), params)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "inbound_invalid",
        "message": "The post lacks fields.",
        "details": {"missing": ["From"]},
    }


def test_json_is_not_what_twilio_posts(delivery):
    response = Client().post(TWILIO_PATH, {"From": ANN}, content_type="application/json")
    assert response.status_code == 415


def test_a_nul_byte_in_a_signed_post_is_not_a_server_error(delivery):
    response = post_twilio(Client(), sms("SAFE\x00", sender="+1555\x00"))
    assert response.status_code == 200
    assert InboundMessage.objects.get().outcome == "ignored"


def test_an_incident_alert_takes_1_as_on_it_and_2_as_cant_help(make_contact):
    make_contact("Ann", phone=ANN, groups=["ops"])
    alert = services.alert_raise(message="db1 down", groups=["ops"], source="netprobe").alert
    post_twilio(Client(), sms("1 looking"))
    delivery = alert.deliveries.get()
    assert (delivery.answer, delivery.answer_note) == ("on_it", "looking")


def test_the_alert_sms_tells_how_to_answer_by_text_once_replies_are_on(aws, make_contact, dispatch):
    make_contact("Ann", phone=ANN, groups=["ops"])
    services.alert_raise(message="Fire in building B", groups=["ops"])
    dispatch()
    (sent,) = aws.sent_sms()
    assert "Reply 1=SAFE 2=HELP or: http://portal.test/sos/ack/" in sent["message"]


def test_inbound_messages_are_listed_read_only_in_the_admin(delivery):
    from portal.test import PASSWORD, make_user

    post_twilio(Client(), sms("SAFE"))
    make_user("root", role=None, is_staff=True, is_superuser=True)
    client = Client()
    client.login(username="root", password=PASSWORD)
    page = client.get("/admin/sos/inboundmessage/", {"q": "SAFE"})
    assert page.status_code == 200
    assert ANN in page.content.decode()
    assert client.get("/admin/sos/inboundmessage/add/").status_code == 403


def test_a_multipart_post_is_refused_before_it_is_parsed(delivery):
    from modules.sos.inbound.twilio import twilio_signature

    params = sms("1")
    signature = twilio_signature(TWILIO_TOKEN, "http://portal.test" + TWILIO_PATH, params.items())
    response = Client().post(TWILIO_PATH, params, HTTP_X_TWILIO_SIGNATURE=signature)
    assert response.status_code == 415
    delivery.refresh_from_db()
    assert delivery.answer == ""
