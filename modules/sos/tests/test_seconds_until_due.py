"""The worker sleeps until the first row due (seconds_until_due): a retry, a lease running out,
a reminder or an escalation step; the same rows the dispatcher takes once they are due."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from modules.sos.models import Alert, Delivery
from modules.sos.outbox.dispatch import seconds_until_due
from modules.sos.outbox.escalation import alerts_escalate_due
from modules.sos.outbox.leases import SEND_MARGIN_S

pytestmark = pytest.mark.django_db

State = Delivery.State
MINUTE = timedelta(minutes=1)


def delivery(alert: Alert, state: str, **fields: object) -> Delivery:
    return Delivery.objects.create(
        alert=alert,
        contact_name="Ann",
        kind="email",
        address="ann@example.com",
        state=state,
        **fields,
    )


def test_it_waits_for_nothing_when_nothing_is_scheduled():
    alert = Alert.objects.create(message="Fire")
    delivery(alert, State.SENT)
    assert seconds_until_due() is None


@pytest.mark.parametrize(
    ("state", "fields", "due_s"),
    [
        (State.PENDING, {"next_attempt_at": 3}, 180),
        # A lost worker's row is handed back SEND_MARGIN_S after its lease ends, not before.
        (State.SENDING, {"next_attempt_at": -9, "lease_until": 3}, 180 + SEND_MARGIN_S),
    ],
)
def test_it_wakes_for_the_next_delivery_even_behind_rows_without_a_time(state, fields, due_s):
    now = timezone.now()
    alert = Alert.objects.create(message="Fire")
    # A row without a time sorts first on SQLite: it must not hide the one that has one.
    delivery(alert, state)
    other = Alert.objects.create(message="Flood")
    delivery(other, state, **{name: now + MINUTE * n for name, n in fields.items()})
    assert seconds_until_due(now=now) == pytest.approx(due_s)


def test_it_wakes_for_a_reminder_the_runner_then_adopts_and_sends():
    now = timezone.now()
    alert = Alert.objects.create(
        message="Fire",
        require_ack=True,
        reminder_interval_min=5,
        reminder_max=2,
        next_reminder_at=now + 5 * MINUTE,
    )
    delivery(alert, State.SENT)
    Alert.objects.create(message="No ack", next_reminder_at=now + MINUTE)
    Alert.objects.create(
        message="Closed",
        status=Alert.Status.RESOLVED,
        require_ack=True,
        next_reminder_at=now + MINUTE,
    )
    assert seconds_until_due(now=now) == pytest.approx(300)
    assert alerts_escalate_due(now=now + 5 * MINUTE) == 1
    assert Delivery.objects.get(alert=alert).state == State.PENDING
    # Re-queued at the reminder's time: due at once.
    assert seconds_until_due(now=now + 5 * MINUTE) == 0


def test_it_wakes_for_an_active_escalation_step_only():
    now = timezone.now()
    for status, minutes in (("satisfied", 1), ("exhausted", 1), ("active", 7)):
        Alert.objects.create(
            message=status, escalation_status=status, next_escalation_at=now + minutes * MINUTE
        )
    assert seconds_until_due(now=now) == pytest.approx(420)
