"""Failures that retrying cannot fix fail at once, with a one-line reason (status and a short
text, never an HTML page) on the row, in the event log and in the logs; the rest are retried."""

from __future__ import annotations

import logging

import pytest

from modules.sos import services
from modules.sos.channels import ChannelError, ChannelSet, Target
from modules.sos.channels.apprise import AppriseChannel
from modules.sos.channels.base import Message, truncate
from modules.sos.channels.email import SesEmailChannel
from modules.sos.channels.sms import SnsSmsChannel
from modules.sos.channels.webhook import WebhookChannel
from modules.sos.models import AlertEvent, ContactMethod
from modules.sos.tests.peers import Reply
from portal.egress import EgressPolicy

HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n<body>\n"
    b"<h1>Not Found</h1><p>The requested URL was not found on this server.</p>\n"
    b"<hr><address>Apache/2.4.57 (Debian) Server</address>\n</body></html>\n"
)


def message() -> Message:
    return Message("sos-1-0", "[CRITICAL] Fire", "Fire", "", "Fire", payload={"a": 1})


def webhook(receiver, timeout: float = 3) -> tuple[WebhookChannel, Target]:
    return WebhookChannel(timeout=timeout, policy=EgressPolicy(["127.0.0.0/8"])), Target(
        "webhook", receiver.url(), "s3cret"
    )


def test_a_webhook_404_with_an_html_page_fails_at_once_with_one_short_line(
    make_contact, receiver, dispatch, caplog
):
    receiver.script("/hook", Reply(404, {"Content-Type": "text/html"}, HTML_PAGE))
    make_contact("Bot", webhook=receiver.url(), groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    with caplog.at_level(logging.WARNING, logger="modules.sos.dispatch"):
        report = dispatch()
    assert report.failed == 1
    delivery = alert.deliveries.get()
    assert (delivery.state, delivery.attempts) == ("failed", 1)
    assert delivery.last_error == "HTTP 404 Not Found"
    event = AlertEvent.objects.get(kind="attempt")
    assert event.message == "Webhook to Bot: failed: HTTP 404 Not Found"
    assert event.data["outcome"] == "permanent"
    (record,) = [r for r in caplog.records if "failed" in r.getMessage()]
    assert record.getMessage().endswith(": HTTP 404 Not Found")
    assert "<" not in record.getMessage()
    assert len(receiver.requests) == 1


def test_an_html_body_is_dropped_even_when_the_peer_calls_it_plain_text(receiver):
    receiver.script("/hook", Reply(400, {"Content-Type": "text/plain"}, HTML_PAGE))
    channel, target = webhook(receiver)
    with pytest.raises(ChannelError) as caught:
        channel.send(target, message())
    assert caught.value.message == "HTTP 400 Bad Request"


def test_a_json_error_body_is_kept_on_one_line_and_cut_at_200_characters(receiver):
    body = b'{\n  "error": "unknown channel",\n  "detail": "' + b"x" * 400 + b'"\n}'
    receiver.script("/hook", Reply(422, {"Content-Type": "application/json"}, body))
    channel, target = webhook(receiver)
    with pytest.raises(ChannelError) as caught:
        channel.send(target, message())
    text = caught.value.message
    assert caught.value.permanent
    assert text.startswith('HTTP 422 Unprocessable Entity: { "error": "unknown channel", "detail"')
    assert "\n" not in text
    assert len(text.partition(": ")[2]) <= 200


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (400, True),
        (404, True),
        (410, True),
        (501, True),
        (408, False),
        (425, False),
        (429, False),
        (500, False),
        (502, False),
        (503, False),
    ],
)
def test_4xx_and_501_are_permanent_and_the_rest_transient(receiver, status, permanent):
    receiver.script("/hook", status)
    channel, target = webhook(receiver)
    with pytest.raises(ChannelError) as caught:
        channel.send(target, message())
    assert caught.value.permanent is permanent
    assert caught.value.message.startswith(f"HTTP {status}")


def test_a_timeout_and_a_refused_connection_stay_transient(receiver):
    receiver.script("/hook", Reply(200, delay=1.0))
    channel, target = webhook(receiver, timeout=0.3)
    with pytest.raises(ChannelError) as slow:
        channel.send(target, message())
    with pytest.raises(ChannelError) as refused:
        channel.send(Target("webhook", "http://127.0.0.1:9/hook", "s"), message())
    assert not slow.value.permanent
    assert not refused.value.permanent


@pytest.mark.parametrize(("status", "permanent"), [(404, True), (501, True), (503, False)])
def test_apprise_failures_are_classified_by_the_status_the_service_answered(
    receiver, status, permanent
):
    receiver.script("/chat", Reply(status, {"Content-Type": "text/html"}, HTML_PAGE))
    channel = AppriseChannel(timeout=3, policy=EgressPolicy(["127.0.0.0/8"]))
    with pytest.raises(ChannelError) as caught:
        channel.send(Target("apprise", f"json://127.0.0.1:{receiver.port}/chat"), message())
    assert caught.value.permanent is permanent
    assert "<" not in caught.value.message


@pytest.fixture
def no_aws_credentials(monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance metadata lookups here
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)


def test_missing_aws_credentials_fail_sms_at_once_without_blaming_the_number(
    make_contact, moto_server, no_aws_credentials, dispatch, settings
):
    settings.AWS_ENDPOINT_URL = moto_server.url
    make_contact("Ann", phone="+15555550100", groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    dispatch()
    delivery = alert.deliveries.get()
    assert (delivery.state, delivery.attempts) == ("failed", 1)
    assert delivery.last_error.startswith("AWS is not configured: NoCredentialsError")
    assert ContactMethod.objects.get().last_error == ""  # the number is not at fault
    assert moto_server.sent_sms() == []


def test_a_region_aws_does_not_have_fails_at_once(make_contact, dispatch, settings):
    settings.AWS_ENDPOINT_URL = None
    settings.SOS_AWS_REGION = "moon-central-1"
    make_contact("Ann", phone="+15555550100", groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    dispatch()
    delivery = alert.deliveries.get()
    assert (delivery.state, delivery.attempts) == ("failed", 1)
    assert "moon-central-1" in delivery.last_error
    assert ContactMethod.objects.get().last_error == ""


def test_an_unverified_ses_sender_is_a_configuration_error(aws):
    channel = SesEmailChannel(from_email="nobody@unverified.example", region="us-east-1", timeout=5)
    with pytest.raises(ChannelError) as caught:
        channel.send(Target("email", "ann@example.com"), message())
    assert caught.value.permanent
    assert caught.value.configuration
    assert caught.value.message.startswith("MessageRejected (HTTP 400)")


def test_an_invalid_sns_parameter_is_permanent_and_blames_the_address(receiver, monkeypatch):
    body = (
        b"<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code>"
        b"<Message>Invalid parameter: PhoneNumber</Message></Error></ErrorResponse>"
    )
    receiver.script("/", Reply(400, {"Content-Type": "text/xml"}, body))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    channel = SnsSmsChannel(region="us-east-1", timeout=5, endpoint_url=receiver.url("/"))
    with pytest.raises(ChannelError) as caught:
        channel.send(Target("sms", "+15555550100"), message())
    assert caught.value.permanent
    assert not caught.value.configuration
    assert caught.value.message == "InvalidParameter (HTTP 400): Invalid parameter: PhoneNumber"


def test_a_channel_that_cannot_be_built_or_is_not_set_up_fails_permanently():
    def broken() -> object:
        raise ValueError("SOS_EMAIL_FROM is empty")

    channels = ChannelSet({"email": broken})  # type: ignore[dict-item]
    with pytest.raises(ChannelError) as unbuilt:
        channels.send(Target("email", "ann@example.com"), message())
    with pytest.raises(ChannelError) as missing:
        channels.send(Target("sms", "+15555550100"), message())
    for caught in (unbuilt, missing):
        assert caught.value.permanent
        assert caught.value.configuration
    assert unbuilt.value.message == (
        "The email channel is not configured: ValueError: SOS_EMAIL_FROM is empty"
    )


def test_every_reason_is_one_line():
    assert truncate("line one\nline two\r\n\tthree\x00\x1b[31m") == "line one line two three[31m"
    assert ChannelError("a\nb" + "c" * 400).message.count("\n") == 0
    assert len(ChannelError("c" * 400).message) == 300
