"""Reminders to unacknowledged recipients every N minutes, at most M times, then escalation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from modules.sos import services


@pytest.fixture
def alert(make_contact, dispatch):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    make_contact("Bob", email="bob@example.com", groups=["ops"])
    make_contact("Boss", email="boss@example.com", groups=["leads"])
    alert = services.alert_raise(
        message="Fire",
        groups=["ops"],
        require_ack=True,
        reminder_interval_min=5,
        reminder_max=2,
        escalate_to="leads",
    ).alert
    dispatch()
    return alert


def sent_to() -> list[tuple[str, str]]:
    return [(m.to[0], m.subject.split(":")[0]) for m in mail.outbox]


def test_reminds_only_those_who_did_not_answer_then_escalates(alert, dispatch):
    start = timezone.now()
    ann = alert.deliveries.get(contact_name="Ann")
    services.delivery_acknowledge(delivery=ann, answer="safe")
    mail.outbox.clear()

    dispatch(now=start + timedelta(minutes=4))
    assert mail.outbox == []

    dispatch(now=start + timedelta(minutes=5, seconds=1))
    assert sent_to() == [("bob@example.com", "Reminder 1")]
    bob = alert.deliveries.get(contact_name="Bob")
    assert bob.state == "sent"
    assert bob.round == 1
    assert bob.attempts == 1

    dispatch(now=start + timedelta(minutes=10, seconds=2))
    dispatch(now=start + timedelta(minutes=15, seconds=3))
    assert [s for _, s in sent_to()] == ["Reminder 1", "Reminder 2", "Escalated"]
    assert mail.outbox[-1].to == ["boss@example.com"]
    alert.refresh_from_db()
    assert alert.reminders_sent == 2
    assert alert.escalated_at is not None
    assert alert.next_reminder_at is None
    kinds = list(
        alert.events.filter(kind__in=["reminder", "escalated"]).values_list("kind", flat=True)
    )
    assert kinds == ["reminder", "reminder", "escalated"]

    dispatch(now=start + timedelta(hours=3))
    assert len(mail.outbox) == 3


def test_each_reminder_carries_a_new_idempotency_key(alert, dispatch):
    first = {m.extra_headers["X-Portal-Delivery"] for m in mail.outbox}
    dispatch(now=timezone.now() + timedelta(minutes=6))
    reminded = {m.extra_headers["X-Portal-Delivery"] for m in mail.outbox[2:]}
    assert len(reminded) == 2
    assert not first & reminded


def test_no_reminders_once_everyone_answered(alert, dispatch):
    for delivery in alert.deliveries.all():
        services.delivery_acknowledge(delivery=delivery, answer="received")
    mail.outbox.clear()
    dispatch(now=timezone.now() + timedelta(hours=1))
    assert mail.outbox == []


def test_a_cancelled_alert_sends_no_reminders(alert, dispatch):
    services.alert_cancel(alert=alert)
    mail.outbox.clear()
    dispatch(now=timezone.now() + timedelta(hours=1))
    assert mail.outbox == []
