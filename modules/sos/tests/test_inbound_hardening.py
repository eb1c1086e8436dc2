"""Two-way replies hardened: a signed SNS message is accepted only near its Timestamp (a
captured one replayed later is refused), the inbound log is pruned after its retention, the
AWS endpoint is a setting, and one rule says which alerts are incidents."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from modules.sos import services
from modules.sos.answers import AckKind, alert_ack_kind, source_ack_kind
from modules.sos.channels.base import Message, Target
from modules.sos.inbound.keywords import sms_replies_hint
from modules.sos.inbound.sms_reply import sms_reply_send
from modules.sos.models import AlertEvent, InboundMessage
from modules.sos.outbox.dispatch import default_channels
from modules.sos.tests.inbound_peers import TOPIC, post_sns, sns_timestamp
from portal import lambda_tasks

ANN = "+15555550100"


@pytest.fixture
def delivery(make_contact):
    make_contact("Ann", phone=ANN, groups=["ops"])
    alert = services.alert_raise(message="Fire in building B", groups=["ops"]).alert
    return alert.deliveries.get()


def sms_published(sns_peer, body: str, timestamp: str) -> dict:
    message = sns_peer.sms(ANN, body)
    # Signed again with the Timestamp SNS would have written `age` ago.
    fields = {k: v for k, v in message.items() if k not in ("Signature", "SignatureVersion")}
    return sns_peer.sign({**fields, "Timestamp": timestamp})


def assert_nothing_applied(delivery, aws) -> None:
    delivery.refresh_from_db()
    assert delivery.answer == ""
    assert delivery.state != "acknowledged"
    assert not InboundMessage.objects.exists()
    assert not AlertEvent.objects.filter(kind="reply").exists()
    assert aws.sent_sms() == []


def test_a_signed_message_published_two_hours_ago_is_refused_and_applies_nothing(
    sns_peer, aws, delivery
):
    message = sms_published(sns_peer, "SAFE", sns_timestamp(timedelta(hours=2)))
    response = post_sns(Client(), message)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "sns_timestamp_invalid"
    assert error["details"]["max_age_s"] == 3900
    assert error["details"]["age_s"] >= 7200
    assert_nothing_applied(delivery, aws)


def test_a_signed_message_from_the_future_is_refused(sns_peer, aws, delivery):
    message = sms_published(sns_peer, "SAFE", sns_timestamp(-timedelta(minutes=10)))
    response = post_sns(Client(), message)
    assert (response.status_code, response.json()["error"]["code"]) == (
        400,
        "sns_timestamp_invalid",
    )
    assert_nothing_applied(delivery, aws)


def test_a_signed_message_without_a_readable_timestamp_is_refused(sns_peer, aws, delivery):
    message = sms_published(sns_peer, "SAFE", "yesterday")
    response = post_sns(Client(), message)
    assert (response.status_code, response.json()["error"]["code"]) == (
        400,
        "sns_timestamp_invalid",
    )
    assert_nothing_applied(delivery, aws)


@pytest.mark.parametrize(
    "age",
    [timedelta(0), timedelta(minutes=50), timedelta(minutes=61), -timedelta(minutes=2)],
)
def test_a_fresh_message_or_a_late_retry_around_the_hour_is_applied(sns_peer, delivery, age):
    """SNS's last retry of a full-hour delivery policy can land just past 3600 s."""
    response = post_sns(Client(), sms_published(sns_peer, "SAFE", sns_timestamp(age)))
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "accepted"}
    delivery.refresh_from_db()
    assert (delivery.state, delivery.answer) == ("acknowledged", "safe")
    assert InboundMessage.objects.count() == 1


def test_the_signature_is_checked_before_the_age(sns_peer, delivery):
    message = sms_published(sns_peer, "SAFE", sns_timestamp(timedelta(hours=2)))
    message["Timestamp"] = sns_timestamp()  # made fresh after signing: a forgery
    response = post_sns(Client(), message)
    assert (response.status_code, response.json()["error"]["code"]) == (
        403,
        "signature_invalid",
    )


def _inbound(message_id: str, age: timedelta, provider: str = "sns-sms") -> InboundMessage:
    record = InboundMessage.objects.create(provider=provider, message_id=message_id)
    InboundMessage.objects.filter(pk=record.pk).update(received_at=timezone.now() - age)
    return record


def test_sos_prune_removes_old_inbound_records_and_keeps_recent_ones(db, settings):
    settings.SOS_INBOUND_RETENTION_DAYS = 30
    _inbound("old-1", timedelta(days=31))
    _inbound("old-2", timedelta(days=400))
    _inbound("recent", timedelta(days=29))
    _inbound("just-now", timedelta(minutes=5))
    out = io.StringIO()
    call_command("sos_prune", stdout=out)
    assert out.getvalue().strip() == "Deleted 2 inbound reply record(s) older than 30 day(s)."
    assert sorted(InboundMessage.objects.values_list("message_id", flat=True)) == [
        "just-now",
        "recent",
    ]
    call_command("sos_prune", "--older-than-days", "1", stdout=out)
    assert list(InboundMessage.objects.values_list("message_id", flat=True)) == ["just-now"]


def test_sos_prune_keeps_twilio_records_whose_signature_never_expires(db):
    # X-Twilio-Signature signs no time: the record is what refuses a captured request replayed.
    _inbound("SM-old", timedelta(days=400), provider="twilio")
    _inbound("sns-old", timedelta(days=400))

    call_command("sos_prune", stdout=io.StringIO())

    assert list(InboundMessage.objects.values_list("message_id", flat=True)) == ["SM-old"]


def test_sos_prune_never_cuts_into_the_sns_replay_window(db):
    _inbound("an-hour-ago", timedelta(hours=1))
    with pytest.raises(CommandError, match="at least 1"):
        call_command("sos_prune", "--older-than-days", "0")
    with pytest.raises(ValueError, match="at least 1 day"):
        services.inbound_messages_prune(older_than_days=0)
    assert InboundMessage.objects.count() == 1


def test_the_daily_prune_task_prunes_the_inbound_log(db, settings):
    settings.SOS_INBOUND_RETENTION_DAYS = 7
    _inbound("old", timedelta(days=8))
    _inbound("recent", timedelta(days=1))
    result = lambda_tasks.prune()
    commands = {r["command"]: r for r in result["results"]}
    assert "older than 7 day(s)" in commands["sos_prune"]["output"]
    assert list(InboundMessage.objects.values_list("message_id", flat=True)) == ["recent"]


@pytest.mark.parametrize(
    ("prune_args", "kept", "replies"),
    [((), True, 1), (("--older-than-days", "1"), False, 2)],
    ids=["default-retention-keeps-it", "one-day-drops-it"],
)
def test_a_redelivery_is_applied_once_only_while_the_prune_keeps_its_record(
    sns_peer, delivery, settings, prune_args, kept, replies
):
    settings.SOS_INBOUND_RETENTION_DAYS = 30
    message = sms_published(sns_peer, "SAFE", sns_timestamp(timedelta(minutes=30)))
    client = Client()
    assert post_sns(client, message).status_code == 200
    # The record is 2 days old: within the default retention, past a one-day prune.
    InboundMessage.objects.update(received_at=timezone.now() - timedelta(days=2))
    call_command("sos_prune", *prune_args, stdout=io.StringIO())
    assert InboundMessage.objects.exists() is kept
    response = post_sns(client, message)
    assert response.status_code == 200, response.content
    assert InboundMessage.objects.count() == 1
    assert AlertEvent.objects.filter(kind="reply").count() == replies


def test_sns_and_ses_clients_use_the_endpoint_setting(aws, settings, monkeypatch):
    # Only the setting names moto: boto3 finds no AWS_ENDPOINT_URL in the environment.
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    settings.AWS_ENDPOINT_URL = aws.url
    settings.SOS_EMAIL_BACKEND = "ses"
    text = Message(
        idempotency_key="sos-1-0", subject="Fire", text="Fire", html="", sms="Fire", severity="info"
    )
    channels = default_channels()
    try:
        channels.get("sms").send(Target("sms", ANN), text)
        channels.get("email").send(Target("email", "ann@example.com"), text)
    finally:
        channels.close()
    assert sms_reply_send(to=ANN, text="Thanks, noted.")
    assert [m["phone_number"] for m in aws.sent_sms()] == [ANN, ANN]
    assert len(aws.sent_emails()) == 1


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("netprobe", AckKind.INCIDENT),
        ("pagerduty:db-primary", AckKind.INCIDENT),
        (" PagerDuty : x", AckKind.INCIDENT),
        ("api", AckKind.SAFETY),
        ("ui", AckKind.SAFETY),
        ("integration:grafana", AckKind.SAFETY),  # no source is ever named so
    ],
)
def test_the_sms_reply_hint_follows_the_alerts_answers(make_contact, settings, source, kind):
    settings.SOS_SNS_TOPIC_ARNS = [TOPIC]
    make_contact("Ann", phone=ANN, groups=["ops"])
    alert = services.alert_raise(
        message="db01 is down", groups=["ops"], source=source, dedup_key=f"{source}-k"
    ).alert
    assert alert_ack_kind(alert) == source_ack_kind(source) == kind
    # Texted keywords answer "safe / need help": the hint goes only with those alerts.
    assert sms_replies_hint(alert.source) is (kind == AckKind.SAFETY)
