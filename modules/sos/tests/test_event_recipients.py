"""Every event the delivery engine writes names the recipient: contact and channel, in the
message ("Email to Alice Smith: sent (attempt 1)") and in the data."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from modules.sos import services
from modules.sos.models import AlertEvent
from modules.sos.tests.peers import Reply


def test_attempt_events_name_the_contact_and_the_channel(
    make_contact, smtp_server, receiver, dispatch, settings
):
    settings.SOS_MAX_ATTEMPTS = 2
    receiver.script("/hook", Reply(503, body=b""), Reply(503, body=b""))
    make_contact("Alice Smith", email="alice@example.com", groups=["ops"])
    make_contact("Pager Bot", webhook=receiver.url(), groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    now = timezone.now()
    dispatch(now=now)
    dispatch(now=now + timedelta(minutes=5))
    events = list(AlertEvent.objects.filter(alert=alert, kind="attempt").order_by("id"))
    messages = sorted(e.message for e in events)
    assert messages[0] == "Email to Alice Smith: sent (attempt 1)"
    assert messages[1].startswith("Webhook to Pager Bot: attempt 1 failed, retrying in ")
    assert messages[1].endswith(": HTTP 503 Service Unavailable")
    assert messages[2] == (
        "Webhook to Pager Bot: failed: Gave up after 2 attempts: HTTP 503 Service Unavailable"
    )
    for event in events:
        assert event.data["recipient"] in ("Alice Smith", "Pager Bot")
        assert (
            event.data["channel"]
            == {"Alice Smith": "email", "Pager Bot": "webhook"}[event.data["recipient"]]
        )


def test_a_lease_expiry_names_the_recipient(make_contact, receiver, dispatch, settings):
    from modules.sos.outbox.claims import claim_due

    make_contact("Alice Smith", phone="+15555550100", groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    now = timezone.now()
    claim_due(now=now, limit=1)  # a worker claims the row, then dies
    from modules.sos.outbox.claims import requeue_expired_leases

    assert requeue_expired_leases(now=now + timedelta(seconds=settings.SOS_LEASE_S + 1)) == 1
    event = AlertEvent.objects.get(alert=alert, kind="lease_expired")
    assert event.message == "SMS to Alice Smith: lease expired during attempt 1; due again now"
    assert event.data["recipient"] == "Alice Smith"
    assert event.data["channel"] == "sms"
    assert event.data["to"] == "pending"
