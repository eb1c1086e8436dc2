"""process_due_deliveries against real peers: sent, retried with backoff, failed for good."""

from __future__ import annotations

import hashlib
import hmac
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from modules.sos import services
from modules.sos.models import AlertEvent, ContactMethod, Delivery
from modules.sos.outbox.claims import backoff_delay
from modules.sos.tests.peers import Reply


def test_delivers_email_sms_and_webhooks_and_records_provider_ids(
    make_contact, smtp_server, receiver, aws, dispatch
):
    make_contact("Ann", email="ann@example.com", phone="+15555550100", groups=["ops"])
    make_contact("Bot", webhook=receiver.url(), groups=["ops"])
    alert = services.alert_raise(
        message="Fire in building 2", groups=["ops"], location={"lat": 48.1, "lon": 11.5}
    ).alert
    report = dispatch()
    assert report.sent == 3
    rows = {d.kind: d for d in alert.deliveries.all()}
    assert {d.state for d in rows.values()} == {"sent"}
    assert all(d.attempts == 1 and d.sent_at and not d.lease_token for d in rows.values())
    (mail,) = smtp_server.messages
    assert mail["Message-ID"] == rows["email"].provider_message_id
    assert "Fire in building 2" in mail["Subject"]
    (sms,) = aws.sent_sms()
    assert sms["message_id"] == rows["sms"].provider_message_id
    assert "http://portal.test/sos/ack/" in sms["message"]
    (hook,) = receiver.requests
    assert hook.json()["location"] == {"lat": 48.1, "lon": 11.5, "accuracy_m": None}
    assert ContactMethod.objects.filter(last_success_at__isnull=False).count() == 3


def test_email_can_go_through_ses(make_contact, aws, dispatch, settings):
    settings.SOS_EMAIL_BACKEND = "ses"
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    alert = services.alert_raise(message="Flood in the basement", groups=["ops"]).alert
    dispatch()
    delivery = alert.deliveries.get()
    assert delivery.state == "sent"
    (email,) = aws.sent_emails()
    assert email["id"] == delivery.provider_message_id
    assert email["destinations"]["ToAddresses"] == ["ann@example.com"]
    assert "Flood in the basement" in email["subject"]
    assert "/sos/ack/" in email["body"]


def test_smtp_451_then_250_is_retried_and_sent(make_contact, smtp_server, dispatch):
    smtp_server.handler.mode = "tempfail_once"
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    now = timezone.now()
    dispatch(now=now)
    delivery = alert.deliveries.get()
    assert delivery.state == "pending"
    assert delivery.attempts == 1
    assert "451" in delivery.last_error
    assert timedelta(seconds=5) <= delivery.next_attempt_at - now <= timedelta(seconds=10)
    dispatch(now=now + timedelta(seconds=5))  # not yet due: nothing happens
    assert alert.deliveries.get().attempts == 1
    dispatch(now=now + timedelta(seconds=11))
    delivery.refresh_from_db()
    assert delivery.state == "sent"
    assert delivery.attempts == 2
    assert delivery.last_error == ""
    assert len(smtp_server.messages) == 1
    outcomes = [e.data["outcome"] for e in AlertEvent.objects.filter(kind="attempt")]
    assert outcomes == ["transient", "sent"]


def test_smtp_550_fails_at_once_and_marks_the_contact_method(make_contact, smtp_server, dispatch):
    smtp_server.handler.mode = "reject"
    make_contact("Ann", email="gone@example.com", groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    dispatch()
    delivery = alert.deliveries.get()
    assert delivery.state == "failed"
    assert delivery.attempts == 1
    assert "550" in delivery.last_error
    method = ContactMethod.objects.get()
    assert "550" in method.last_error
    assert method.last_error_at


def test_a_webhook_500_then_200_retries_with_the_same_key_and_a_valid_signature(
    make_contact, receiver, dispatch
):
    receiver.script("/hook", 500, 200)
    make_contact("Bot", webhook=receiver.url(), groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    now = timezone.now()
    dispatch(now=now)
    dispatch(now=now + timedelta(seconds=11))
    delivery = alert.deliveries.get()
    assert delivery.state == "sent"
    assert delivery.attempts == 2
    first, second = receiver.requests
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert first.headers["Idempotency-Key"] == f"sos-{delivery.pk}-0"
    assert first.body == second.body
    secret = delivery.method.secret.encode()
    for request in (first, second):
        digest = hmac.new(secret, request.body, hashlib.sha256).hexdigest()
        assert request.headers["X-Portal-Signature"] == f"sha256={digest}"


def test_transient_failures_back_off_exponentially_then_give_up(
    make_contact, receiver, dispatch, settings
):
    settings.SOS_MAX_ATTEMPTS = 4
    receiver.script("/hook", *[503] * 4)
    make_contact("Bot", webhook=receiver.url(), groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    now = timezone.now()
    delays = []
    for _ in range(3):
        dispatch(now=now)
        delivery = alert.deliveries.get()
        assert delivery.state == "pending"
        delays.append((delivery.next_attempt_at - now).total_seconds())
        now = delivery.next_attempt_at
    for attempt, delay in enumerate(delays, start=1):
        ceiling = 10 * 2 ** (attempt - 1)
        assert ceiling / 2 <= delay <= ceiling
    dispatch(now=now)
    delivery = alert.deliveries.get()
    assert delivery.state == "failed"
    assert delivery.attempts == 4
    assert delivery.last_error.startswith("Gave up after 4 attempts: HTTP 503")
    assert len(receiver.requests) == 4


def test_the_backoff_is_capped_and_jittered():
    rng = random.Random(1)
    samples = [backoff_delay(12, base=10, cap=600, rng=rng) for _ in range(200)]
    assert all(300 <= s <= 600 for s in samples)
    assert len({round(s) for s in samples}) > 50


def test_retry_after_is_honoured(make_contact, receiver, dispatch):
    receiver.script("/hook", Reply(429, {"Retry-After": "300"}))
    make_contact("Bot", webhook=receiver.url(), groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    now = timezone.now()
    dispatch(now=now)
    delivery = alert.deliveries.get()
    assert delivery.state == "pending"
    assert (delivery.next_attempt_at - now).total_seconds() == pytest.approx(300)


def test_a_webhook_to_a_forbidden_address_fails_permanently_on_the_row(
    make_contact, receiver, dispatch, settings
):
    make_contact("Bot", webhook=receiver.url(), groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    settings.EGRESS_ALLOWED_NETWORKS = []  # the policy changed after the method was saved
    dispatch()
    delivery = alert.deliveries.get()
    assert delivery.state == "failed"
    assert delivery.attempts == 1
    assert "refused" in delivery.last_error
    assert "loopback" in delivery.last_error
    assert receiver.requests == []
    assert "refused" in ContactMethod.objects.get().last_error


def test_critical_alerts_are_claimed_before_info_ones(make_contact, dispatch):
    from modules.sos.outbox.claims import claim_due

    make_contact("Ann", email="ann@example.com", groups=["ops"])
    make_contact("Bob", email="bob@example.com", groups=["ops"])
    info = services.alert_raise(message="FYI", groups=["ops"], severity="info").alert
    critical = services.alert_raise(message="Fire", groups=["ops"], severity="critical").alert
    jobs = claim_due(now=timezone.now(), limit=2)
    assert {j.alert_id for j in jobs} == {critical.pk}
    assert info.deliveries.filter(state="pending").count() == 2


def test_cancel_stops_what_is_not_yet_sent(make_contact, receiver, dispatch, operator):
    receiver.script("/hook", 503)
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    make_contact("Bot", webhook=receiver.url(), groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    dispatch()
    stopped = services.alert_cancel(alert=alert, by=operator)
    assert stopped == 1
    states = dict(alert.deliveries.values_list("kind", "state"))
    assert states == {"email": "sent", "webhook": "cancelled"}
    dispatch(now=timezone.now() + timedelta(hours=1))
    assert len(receiver.requests) == 1
    event = alert.events.get(kind="cancelled")
    assert event.actor == operator
    assert event.data["cancelled_deliveries"] == 1


def test_a_failed_delivery_can_be_retried_by_an_operator(make_contact, smtp_server, dispatch):
    smtp_server.handler.mode = "reject"
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    dispatch()
    smtp_server.handler.mode = "accept"
    services.delivery_retry(delivery=alert.deliveries.get())
    dispatch()
    delivery = alert.deliveries.get()
    assert delivery.state == "sent"
    assert delivery.attempts == 1
    assert Delivery.objects.get().method.last_error == ""
