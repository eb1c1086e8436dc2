"""Inbound SMS through Amazon SNS two-way messaging: messages signed with a test key whose
certificate a loopback HTTPS server (test CA) serves, verified as SNS messages are."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from modules.sos import services
from modules.sos.models import AlertEvent, Delivery, InboundMessage
from modules.sos.tests.inbound_peers import OTHER_TOPIC, TOPIC, _key, post_sns

ANN = "+15555550100"


@pytest.fixture
def delivery(make_contact):
    make_contact("Ann", phone=ANN, groups=["ops"])
    alert = services.alert_raise(message="Fire in building B", groups=["ops"]).alert
    return alert.deliveries.get()


def error_code(response) -> str:
    return response.json()["error"]["code"]


@pytest.mark.parametrize("version", ["1", "2"])
def test_it_applies_a_safe_reply_signed_with_either_signature_version(sns_peer, delivery, version):
    message = sns_peer.sign(
        {
            "Type": "Notification",
            "Message": json.dumps(
                {
                    "originationNumber": ANN,
                    "destinationNumber": "+18005550199",
                    "messageBody": "safe",
                    "inboundMessageId": f"in-{version}",
                }
            ),
        },
        version=version,
    )
    response = post_sns(Client(), message)
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "accepted"}
    delivery.refresh_from_db()
    assert delivery.state == "acknowledged"
    assert delivery.answer == "safe"
    assert delivery.answer_via == "sms"
    event = AlertEvent.objects.get(kind="reply")
    assert event.delivery == delivery
    assert event.data["channel"] == "sms"
    assert event.data["text"] == "safe"
    assert event.message == "Ann replied by sms: safe"


def test_a_help_reply_records_need_help_with_the_rest_as_the_note(sns_peer, delivery):
    response = post_sns(Client(), sns_peer.sms(ANN, "  HELP trapped on 3rd floor "))
    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.answer == "need_help"
    assert delivery.answer_note == "trapped on 3rd floor"


def test_a_redelivered_message_is_applied_once(sns_peer, delivery):
    message = sns_peer.sms(ANN, "2 broken leg")
    client = Client()
    assert post_sns(client, message).status_code == 200
    assert post_sns(client, message).status_code == 200
    assert InboundMessage.objects.count() == 1
    assert AlertEvent.objects.filter(kind="reply").count() == 1
    assert AlertEvent.objects.filter(kind__in=["acknowledged", "answered_again"]).count() == 1


def test_a_tampered_message_is_refused_and_changes_nothing(sns_peer, delivery):
    message = sns_peer.sms(ANN, "SAFE")
    message["Message"] = message["Message"].replace("SAFE", "HELP")
    response = post_sns(Client(), message)
    assert response.status_code == 403
    assert error_code(response) == "signature_invalid"
    delivery.refresh_from_db()
    assert delivery.answer == ""
    assert not InboundMessage.objects.exists()


def test_a_message_signed_by_another_key_is_refused(sns_peer, delivery):
    message = sns_peer.sign(
        {"Type": "Notification", "Message": json.dumps({"messageBody": "1"})}, key=_key()
    )
    response = post_sns(Client(), message)
    assert (response.status_code, error_code(response)) == (403, "signature_invalid")


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://attacker.example/cert.pem",
        "https://sns.us-east-1.amazonaws.com.attacker.example/cert.pem",
        "http://127.0.0.1:{port}/SimpleNotificationService-1.pem",
        "https://127.0.0.1:{port}/cert-1.pem",  # an SNS host, but no signing certificate
    ],
)
def test_a_certificate_url_off_the_sns_hosts_or_not_https_is_never_fetched(
    sns_peer, delivery, cert_url
):
    message = sns_peer.sms(ANN, "SAFE")
    message["SigningCertURL"] = cert_url.format(port=sns_peer.port)
    response = post_sns(Client(), message)
    assert (response.status_code, error_code(response)) == (403, "signature_invalid")
    assert sns_peer.paths == []


def test_the_default_pattern_accepts_only_amazon_sns_hosts(settings):
    from modules.sos.inbound.errors import SignatureInvalid
    from modules.sos.inbound.sns import check_sns_url
    from portal.settings import SOS_SNS_CERT_HOST_PATTERN as default

    check_sns_url(
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-x.pem", default, "u"
    )
    for url in (
        "https://sns.amazonaws.com.evil.test/x.pem",
        "https://evil.test/sns.us-east-1.amazonaws.com",
    ):
        with pytest.raises(SignatureInvalid):
            check_sns_url(url, default, "u")


def test_the_signing_certificate_is_fetched_once_and_then_cached(sns_peer, delivery):
    client = Client()
    for text in ("SAFE", "HELP", "hello"):
        assert post_sns(client, sns_peer.sms(ANN, text)).status_code == 200
    assert sns_peer.paths == ["/SimpleNotificationService-1.pem"]


def test_an_unreachable_certificate_answers_503_so_that_sns_sends_again(sns_peer, delivery):
    message = sns_peer.sms(ANN, "SAFE")
    message["SigningCertURL"] = "https://127.0.0.1:9/SimpleNotificationService-1.pem"
    response = post_sns(Client(), message)
    assert (response.status_code, error_code(response)) == (503, "sns_unavailable")
    assert response["Retry-After"] == "30"


def test_a_failed_certificate_fetch_is_remembered_for_a_while(sns_peer, delivery):
    good, sns_peer.cert_body = sns_peer.cert_body, b"<Error>busy</Error>"
    try:
        message = sns_peer.sms(ANN, "SAFE")
        message["SigningCertURL"] = f"{sns_peer.base}/SimpleNotificationService-2.pem"
        for _ in range(3):
            assert post_sns(Client(), message).status_code == 403
    finally:
        sns_peer.cert_body = good
    assert sns_peer.paths == ["/SimpleNotificationService-2.pem"]


def test_it_confirms_a_subscription_to_an_allowed_topic(sns_peer):
    subscribe = f"{sns_peer.base}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=abc"
    message = sns_peer.sign(
        {
            "Type": "SubscriptionConfirmation",
            "Message": f"You have chosen to subscribe to the topic {TOPIC}.",
            "SubscribeURL": subscribe,
            "Token": "abc",
        }
    )
    response = post_sns(Client(), message)
    assert response.status_code == 200
    assert response.json() == {"status": "subscribed"}
    assert sns_peer.paths == [
        "/SimpleNotificationService-1.pem",
        subscribe.removeprefix(sns_peer.base),
    ]


def test_a_subscription_to_an_unknown_topic_is_refused_and_not_confirmed(sns_peer):
    message = sns_peer.sign(
        {
            "Type": "SubscriptionConfirmation",
            "TopicArn": OTHER_TOPIC,
            "Message": "You have chosen to subscribe.",
            "SubscribeURL": f"{sns_peer.base}/?Action=ConfirmSubscription&Token=abc",
            "Token": "abc",
        }
    )
    response = post_sns(Client(), message)
    assert (response.status_code, error_code(response)) == (403, "sns_topic_not_allowed")
    assert sns_peer.paths == []


def test_a_subscribe_url_off_the_sns_hosts_is_not_fetched(sns_peer):
    message = sns_peer.sign(
        {
            "Type": "SubscriptionConfirmation",
            "Message": "You have chosen to subscribe.",
            "SubscribeURL": "https://attacker.example/?Action=ConfirmSubscription",
            "Token": "abc",
        }
    )
    response = post_sns(Client(), message)
    assert (response.status_code, error_code(response)) == (403, "signature_invalid")
    assert sns_peer.paths == ["/SimpleNotificationService-1.pem"]


def test_without_configured_topics_every_message_is_refused(sns_peer, settings, delivery):
    settings.SOS_SNS_TOPIC_ARNS = []
    response = post_sns(Client(), sns_peer.sms(ANN, "SAFE"))
    assert (response.status_code, error_code(response)) == (403, "inbound_not_configured")


def test_an_unknown_number_is_ignored_without_details(sns_peer, delivery):
    response = post_sns(Client(), sns_peer.sms("+15555550199", "SAFE"))
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    assert InboundMessage.objects.get().outcome == "ignored"
    assert not AlertEvent.objects.filter(kind="reply").exists()


def test_a_signed_message_that_is_no_reply_is_ignored(sns_peer, delivery):
    for payload in ("plain text", {"notificationType": "Bounce"}):
        response = post_sns(Client(), sns_peer.notification(payload, Subject="Hello"))
        assert response.status_code == 200
        assert response.json() == {"status": "ignored"}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"Type": "Notification"}',
        b'{"Type": "Nope", "MessageId": "1"}',
        b'{"Type": {}, "MessageId": "1"}',
        json.dumps({"Type": "Notification", "Message": 1, "MessageId": "x"}).encode(),
        b"[" * 100000,
    ],
)
def test_what_is_not_an_sns_message_is_a_clear_400(sns_peer, body):
    response = post_sns(Client(), body)
    assert (response.status_code, error_code(response)) == (400, "inbound_invalid")


def test_a_lone_surrogate_in_a_signed_field_is_a_clear_400(sns_peer):
    message = sns_peer.sms(ANN, "SAFE")
    message["Subject"] = "\ud800"  # json.dumps writes it as the escape "\\ud800"
    response = post_sns(Client(), message)
    assert (response.status_code, error_code(response)) == (400, "inbound_invalid")


def test_a_nul_byte_is_a_400_not_a_database_error(sns_peer):
    message = sns_peer.sms(ANN, "SAFE")
    message["Message"] += "\x00"
    response = post_sns(Client(), message)
    assert (response.status_code, error_code(response)) == (400, "inbound_invalid")


def test_a_reply_answers_the_latest_of_several_open_alerts(sns_peer, make_contact):
    make_contact("Ann", phone=ANN, groups=["ops"])
    older = services.alert_raise(message="Flood", groups=["ops"]).alert
    newer = services.alert_raise(message="Fire", groups=["ops"]).alert
    assert post_sns(Client(), sns_peer.sms(ANN, "1")).status_code == 200
    assert Delivery.objects.get(alert=newer).answer == "safe"
    assert Delivery.objects.get(alert=older).answer == ""


def test_the_endpoint_is_public_in_the_openapi_schema(operator_api):
    schema = operator_api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/sos/inbound/sns/"]["post"]
    assert operation["security"] == [{}]  # no login: the signature is the credential
    assert {"200", "400", "403", "503"} <= set(operation["responses"])


@pytest.mark.nodb
@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SOS_SNS_TOPIC_ARNS", "arn:aws:sqs:us-east-1:1:q", "SOS_SNS_TOPIC_ARNS must list"),
        ("SOS_SNS_CERT_HOST_PATTERN", "sns(", "SOS_SNS_CERT_HOST_PATTERN is not a regular"),
        ("SOS_REPLY_TO_DOMAIN", "not a domain", "SOS_REPLY_TO_DOMAIN must be a domain"),
    ],
)
def test_a_malformed_reply_setting_stops_start_up_naming_it(variable, value, message):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        SECRET_KEY="x" * 50,
        DEBUG="0",
        ALLOWED_HOSTS="example.com",
        **{variable: value},
    )
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=Path(__file__).resolve().parents[3],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_the_confirmation_is_texted_back_from_the_two_way_number(sns_peer, aws, delivery):
    assert post_sns(Client(), sns_peer.sms(ANN, "HELP trapped")).status_code == 200
    (sent,) = aws.sent_sms()
    assert sent["phone_number"] == ANN
    assert sent["message"].startswith(f'Recorded "I need help" for alert #{delivery.alert_id}')


def test_an_opt_out_or_a_redelivery_is_not_answered(sns_peer, aws, delivery):
    message = sns_peer.sms(ANN, "SAFE")
    post_sns(Client(), message)
    post_sns(Client(), message)
    post_sns(Client(), sns_peer.sms(ANN, "STOP"))
    assert len(aws.sent_sms()) == 1
