"""Email replies through SES inbound (an SNS notification carrying the raw MIME), matched to
the delivery by its Reply-To address or the acknowledgement link quoted in the body."""

from __future__ import annotations

import base64
from email.message import EmailMessage

import pytest
from django.core import mail
from django.test import Client

from modules.sos import services
from modules.sos.inbound.mail import delivery_id_from_address, reply_to_address
from modules.sos.models import AlertEvent, InboundMessage
from modules.sos.tests.inbound_peers import TOPIC, post_sns

REPLY_DOMAIN = "reply.portal.test"


@pytest.fixture
def delivery(make_contact, dispatch, settings):
    settings.SOS_REPLY_TO_DOMAIN = REPLY_DOMAIN
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    alert = services.alert_raise(message="Fire in building B", groups=["ops"]).alert
    dispatch()
    return alert.deliveries.get()


def reply(sent, first_line: str, *, to: str | None = None, html: bool = False) -> bytes:
    """Ann's mail client answering `sent`, quoting it below her text."""
    message = EmailMessage()
    message["From"] = "Ann <ann@example.com>"
    message["To"] = to if to is not None else sent.reply_to[0]
    message["Subject"] = f"Re: {sent.subject}"
    message["Message-ID"] = "<reply-1@example.com>"
    quoted = "\n".join(f"> {line}" for line in sent.body.splitlines())
    body = f"{first_line}\n\nOn Mon, 7 Dec 2026 at 09:00, Portal wrote:\n{quoted}\n"
    if html:
        message.set_content(f"<div>{first_line}</div><blockquote>{sent.body}</blockquote>", "html")
    else:
        message.set_content(body)
    return message.as_bytes()


def notification(sns_peer, raw: bytes, *, encoding: str = "UTF8", mail_id: str = "ses-1"):
    content = base64.b64encode(raw).decode() if encoding == "BASE64" else raw.decode()
    return sns_peer.notification(
        {
            "notificationType": "Received",
            "mail": {
                "timestamp": "2026-12-07T09:01:00.000Z",
                "source": "ann@example.com",
                "messageId": mail_id,
                "destination": [f"sos@{REPLY_DOMAIN}"],
            },
            "receipt": {
                "recipients": [f"sos@{REPLY_DOMAIN}"],
                "spamVerdict": {"status": "PASS"},
                "virusVerdict": {"status": "PASS"},
                "action": {"type": "SNS", "topicArn": TOPIC, "encoding": encoding},
            },
            "content": content,
        },
        Subject="Amazon SES Email Receipt Notification",
    )


def test_the_alert_email_carries_a_per_delivery_reply_to(delivery):
    (sent,) = mail.outbox
    (address,) = sent.reply_to
    assert address.endswith(f"@{REPLY_DOMAIN}")
    assert address.startswith(f"sos+{delivery.pk}.")
    assert delivery_id_from_address(address) == delivery.pk


def test_without_the_setting_there_is_no_reply_to(make_contact, dispatch):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    services.alert_raise(message="Fire", groups=["ops"])
    dispatch()
    assert mail.outbox[0].reply_to == []


def test_a_forged_reply_address_names_no_delivery(delivery):
    assert delivery_id_from_address(f"sos+{delivery.pk}.00000000000000000000@x.test") is None
    assert delivery_id_from_address(reply_to_address(delivery.pk + 1)) == delivery.pk + 1
    assert delivery_id_from_address("ann@example.com") is None


@pytest.mark.parametrize("encoding", ["UTF8", "BASE64"])
def test_a_safe_reply_to_the_reply_to_address_answers_the_delivery(sns_peer, delivery, encoding):
    raw = reply(mail.outbox[0], "SAFE.")
    response = post_sns(Client(), notification(sns_peer, raw, encoding=encoding))
    assert response.status_code == 200, response.content
    delivery.refresh_from_db()
    assert (delivery.answer, delivery.answer_via) == ("safe", "email")
    event = AlertEvent.objects.get(kind="reply")
    assert event.message == "Ann replied by email: SAFE."
    assert event.data["channel"] == "email"


def test_a_reply_without_reply_to_is_matched_by_the_quoted_link(sns_peer, delivery):
    raw = reply(mail.outbox[0], "help trapped on 3rd floor", to="portal@example.com")
    assert post_sns(Client(), notification(sns_peer, raw)).status_code == 200
    delivery.refresh_from_db()
    assert delivery.answer == "need_help"
    assert delivery.answer_note == "trapped on 3rd floor"


def test_an_html_only_reply_is_read_too(sns_peer, delivery):
    raw = reply(mail.outbox[0], "2 need water", html=True)
    assert post_sns(Client(), notification(sns_peer, raw)).status_code == 200
    delivery.refresh_from_db()
    assert delivery.answer == "need_help"


def test_a_reply_that_is_no_keyword_is_logged_as_a_note(sns_peer, delivery):
    raw = reply(mail.outbox[0], "Where do we meet?")
    assert post_sns(Client(), notification(sns_peer, raw)).status_code == 200
    delivery.refresh_from_db()
    assert delivery.answer == ""
    assert AlertEvent.objects.get(kind="reply").data["outcome"] == "noted"


def test_a_redelivered_notification_is_applied_once(sns_peer, delivery):
    message = notification(sns_peer, reply(mail.outbox[0], "1"))
    client = Client()
    post_sns(client, message)
    post_sns(client, message)
    assert AlertEvent.objects.filter(kind="reply").count() == 1
    assert InboundMessage.objects.get().provider == "ses"


def test_an_email_naming_no_delivery_is_ignored(sns_peer, delivery):
    message = EmailMessage()
    message["From"] = "mallory@example.com"
    message["To"] = f"sos@{REPLY_DOMAIN}"
    message.set_content("SAFE")
    response = post_sns(Client(), notification(sns_peer, message.as_bytes()))
    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.answer == ""
    assert InboundMessage.objects.get().outcome == "ignored"


def test_a_notification_without_content_is_ignored(sns_peer, delivery):
    payload = {"notificationType": "Received", "mail": {"messageId": "x"}, "receipt": {}}
    response = post_sns(Client(), sns_peer.notification(payload))
    assert response.json() == {"status": "ignored"}


def test_undecodable_content_is_a_clear_400(sns_peer, delivery):
    payload = {
        "notificationType": "Received",
        "mail": {"messageId": "bad"},
        "receipt": {"action": {"encoding": "BASE64"}},
        "content": "%%% not base64 %%%",
    }
    response = post_sns(Client(), sns_peer.notification(payload))
    assert (response.status_code, response.json()["error"]["code"]) == (400, "inbound_invalid")


def test_ses_sends_the_reply_to_too(receiver, monkeypatch):
    # A loopback peer answering as the SES v2 API does records what SES would be asked.
    from modules.sos.channels.base import Message, Target
    from modules.sos.channels.email import SesEmailChannel
    from modules.sos.tests.peers import Reply

    receiver.script(
        "/v2/email/outbound-emails",
        Reply(200, {"Content-Type": "application/json"}, b'{"MessageId": "ses-1"}'),
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    channel = SesEmailChannel(
        from_email="portal@example.com",
        region="us-east-1",
        timeout=5,
        endpoint_url=receiver.url(""),
    )
    address = "sos+7.0123456789abcdef0123@reply.portal.test"
    message = Message("sos-7-0", "Fire", "Fire", "", "", reply_to=address)
    assert channel.send(Target("email", "ann@example.com"), message).provider_message_id == "ses-1"
    (request,) = receiver.to("/v2/email/outbound-emails")
    assert request.json()["ReplyToAddresses"] == [address]


def test_an_out_of_office_auto_reply_is_nobodys_answer(sns_peer, delivery):
    raw = reply(mail.outbox[0], "SAFE travels! I am out of office until Monday.")
    raw = b"Auto-Submitted: auto-replied\r\n" + raw
    assert post_sns(Client(), notification(sns_peer, raw)).status_code == 200
    delivery.refresh_from_db()
    assert delivery.answer == ""
    assert not AlertEvent.objects.filter(kind="reply").exists()


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\xff\xfe garbage",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: image/png\r\n\r\n\x89PNG",
        b"From: =?utf-8?q?broken\r\nTo: <<<>>>\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!",
    ],
)
def test_a_malformed_email_is_never_a_server_error(sns_peer, delivery, raw):
    response = post_sns(Client(), notification(sns_peer, raw, encoding="BASE64"))
    assert response.status_code in (200, 400)
    delivery.refresh_from_db()
    assert delivery.answer == ""


def test_a_reply_after_the_links_expired_is_not_taken(sns_peer, delivery):
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from modules.sos.models import Alert

    old = timezone.now() - timedelta(days=settings.SOS_ACK_MAX_AGE_DAYS + 1)
    Alert.objects.filter(pk=delivery.alert_id).update(created_at=old)
    raw = reply(mail.outbox[0], "HELP")
    assert post_sns(Client(), notification(sns_peer, raw)).status_code == 200
    delivery.refresh_from_db()
    assert (delivery.answer, delivery.last_answer) == ("", "")
