"""SES (sesv2) and SNS against moto in server mode, and botocore's retries turned off."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from modules.sos.channels.aws import classify_aws_error
from modules.sos.channels.base import ChannelError, Message, Target
from modules.sos.channels.email import SesEmailChannel
from modules.sos.channels.sms import SnsSmsChannel
from modules.sos.tests.conftest import SENDER
from modules.sos.tests.peers import Reply

pytestmark = pytest.mark.nodb


def message() -> Message:
    return Message(
        idempotency_key="sos-3-0",
        subject="[WARNING] Flood",
        text="Flood in the basement",
        html="<p>Flood in the basement</p>",
        sms="WARNING: Flood in the basement Reply: http://portal.test/sos/ack/x/",
        severity="warning",
    )


def test_sends_email_through_ses(aws):
    channel = SesEmailChannel(from_email=SENDER, region="us-east-1", timeout=5)
    sent = channel.send(Target("email", "ann@example.com"), message())
    (email,) = aws.sent_emails()
    assert email["id"] == sent.provider_message_id
    assert email["destinations"]["ToAddresses"] == ["ann@example.com"]
    assert email["subject"] == "[WARNING] Flood"
    assert email["source"] == SENDER


def test_an_unverified_ses_sender_is_permanent(aws):
    channel = SesEmailChannel(from_email="nobody@elsewhere.test", region="us-east-1", timeout=5)
    with pytest.raises(ChannelError, match="MessageRejected") as caught:
        channel.send(Target("email", "ann@example.com"), message())
    assert caught.value.permanent
    assert aws.sent_emails() == []


def test_sends_sms_through_sns(aws):
    channel = SnsSmsChannel(region="us-east-1", timeout=5, sender_id="PORTAL")
    sent = channel.send(Target("sms", "+1 555 555 0100"), message())
    (sms,) = aws.sent_sms()
    assert sms["message_id"] == sent.provider_message_id
    assert sms["phone_number"] == "+15555550100"
    assert sms["message"].startswith("WARNING: Flood")


def test_an_invalid_phone_number_is_permanent_and_not_sent(aws):
    channel = SnsSmsChannel(region="us-east-1", timeout=5)
    with pytest.raises(ChannelError, match=r"E\.164") as caught:
        channel.send(Target("sms", "12"), message())
    assert caught.value.permanent
    assert aws.sent_sms() == []


def test_a_throttled_aws_answer_is_transient_and_sent_once(receiver, monkeypatch):
    # A real HTTP peer answering like SNS under throttling: botocore must not retry it itself.
    body = (
        b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
        b"<Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"
    )
    receiver.script("/", Reply(400, {"Content-Type": "text/xml"}, body))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    channel = SnsSmsChannel(region="us-east-1", timeout=5, endpoint_url=receiver.url("/"))
    with pytest.raises(ChannelError, match="Throttling") as caught:
        channel.send(Target("sms", "+15555550100"), message())
    assert not caught.value.permanent
    assert len(receiver.requests) == 1


def test_a_5xx_from_aws_is_transient_and_sent_once(receiver, monkeypatch):
    receiver.script("/", Reply(503, {}, b"Service Unavailable"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    channel = SnsSmsChannel(region="us-east-1", timeout=5, endpoint_url=receiver.url("/"))
    with pytest.raises(ChannelError) as caught:
        channel.send(Target("sms", "+15555550100"), message())
    assert not caught.value.permanent
    assert len(receiver.requests) == 1


def test_an_unreachable_endpoint_is_transient(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    channel = SnsSmsChannel(region="us-east-1", timeout=2, endpoint_url="http://127.0.0.1:9")
    with pytest.raises(ChannelError) as caught:
        channel.send(Target("sms", "+15555550100"), message())
    assert not caught.value.permanent


@pytest.mark.parametrize(
    ("code", "status", "permanent"),
    [
        ("Throttling", 400, False),
        ("TooManyRequestsException", 429, False),
        ("InternalFailure", 500, False),
        ("AccessDenied", 403, True),  # the IAM policy: fixed by an operator, not by waiting
        ("InvalidParameter", 400, True),
        ("MessageRejected", 400, True),
        ("BadRequestException", 400, True),
    ],
)
def test_classifies_aws_error_codes(code, status, permanent):
    error = ClientError(
        {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Publish",
    )
    assert classify_aws_error(error).permanent is permanent
