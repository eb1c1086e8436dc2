"""The query KEDA's PostgreSQL scaler runs (templates/worker-keda.yaml) counts exactly the work a
dispatcher pass would take now (due deliveries, reminders, escalation steps), on the suite's
PostgreSQL test database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from tests.ops.support import load_docs, module_values, one


@pytest.fixture
def postgresql(db: None) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("KEDA's scaler runs its query on PostgreSQL (the suite's PostgreSQL pass)")


def _query(render: Any) -> str:
    templates = render(module_values("sos"), "portal-sos")
    docs = load_docs(templates["portal/templates/worker-keda.yaml"])
    (trigger,) = one(docs, "ScaledObject")["spec"]["triggers"]
    return trigger["metadata"]["query"]


def test_the_keda_query_counts_the_deliveries_due(postgresql: None, render: Any) -> None:
    from modules.sos.models import Alert, Delivery

    now = timezone.now()
    hour = timedelta(hours=1)
    open_alert = Alert.objects.create(message="Fire")
    closed = Alert.objects.create(message="Drill", status=Alert.Status.CANCELLED)
    State = Delivery.State
    rows = [
        # (alert, state, next_attempt_at, lease_until, due)
        (open_alert, State.PENDING, now - hour, None, True),  # due
        (open_alert, State.PENDING, now - hour, None, True),
        (open_alert, State.PENDING, now + hour, None, False),  # a retry later
        (open_alert, State.PENDING, None, None, False),
        # Its alert was cancelled meanwhile: the claim takes it and cancels it (no join).
        (closed, State.PENDING, now - hour, None, True),
        # A claimed row keeps its due time (the requeue puts it back in its place).
        (open_alert, State.SENDING, now - hour, now - hour, True),  # its worker was lost
        (closed, State.SENDING, now - hour, now - hour, True),  # to be cancelled by a pass
        (open_alert, State.SENDING, now - hour, now + hour, False),  # a send in flight
        (open_alert, State.SENT, None, None, False),
        (open_alert, State.FAILED, now - hour, None, False),
        (open_alert, State.ACKNOWLEDGED, None, None, False),
    ]
    for n, (alert, state, next_at, lease, _) in enumerate(rows):
        Delivery.objects.create(
            alert=alert,
            contact_name=f"c{n}",
            kind="email",
            address=f"c{n}@example.com",
            state=state,
            next_attempt_at=next_at,
            lease_until=lease,
        )
    with connection.cursor() as cursor:
        cursor.execute(_query(render))
        (count,) = cursor.fetchone()
    assert count == sum(due for *_, due in rows) == 5

    # The same rows the dispatcher takes: expired leases first, then the due claims.
    from modules.sos.outbox.claims import claim_due, requeue_expired_leases

    requeued = requeue_expired_leases(now=now)
    claimed = claim_due(now=now, limit=100)
    assert requeued == 2
    # Two due + the lost one of the open alert, requeued; the closed alert's row is cancelled.
    assert len(claimed) == 3
    assert Delivery.objects.filter(alert=closed, state=State.PENDING).count() == 0


def test_the_keda_query_counts_the_reminders_due(postgresql: None, render: Any) -> None:
    from modules.sos.models import Alert, Delivery
    from modules.sos.outbox.reminders import alerts_remind_due

    now = timezone.now()
    hour = timedelta(hours=1)
    reminded = {"require_ack": True, "reminder_interval_min": 5, "reminder_max": 3}
    due = Alert.objects.create(message="Fire", next_reminder_at=now - hour, **reminded)
    Alert.objects.create(message="Later", next_reminder_at=now + hour, **reminded)
    Alert.objects.create(message="No ack", next_reminder_at=now - hour)
    Alert.objects.create(
        message="Over", status=Alert.Status.CANCELLED, next_reminder_at=now - hour, **reminded
    )
    for alert in Alert.objects.all():
        # Sent, not acknowledged: no delivery is due, only the reminder.
        Delivery.objects.create(
            alert=alert,
            contact_name="c",
            kind="email",
            address=f"c{alert.pk}@example.com",
            state=Delivery.State.SENT,
        )

    def count() -> int:
        with connection.cursor() as cursor:
            cursor.execute(_query(render))
            (value,) = cursor.fetchone()
        return value

    # With the worker scaled to zero, only this count wakes it for the reminder.
    assert count() == 1
    assert alerts_remind_due(now=now) == 1
    due.refresh_from_db()
    assert due.reminders_sent == 1
    # The reminder re-queued its delivery: now that is what the scaler sees.
    assert count() == 1
    assert Delivery.objects.get(alert=due).state == Delivery.State.PENDING


def test_the_keda_query_counts_the_escalation_steps_due(postgresql: None, render: Any) -> None:
    from modules.sos.escalation import StepSpec, escalation_policy_create
    from modules.sos.models import Alert, Contact, ContactMethod, Delivery, Group
    from modules.sos.outbox.escalation import alerts_escalate_due

    now = timezone.now()
    hour = timedelta(hours=1)
    leads = Group.objects.create(name="leads")
    cid = Contact.objects.create(name="Cid")
    ContactMethod.objects.create(contact=cid, kind="email", address="cid@example.com")
    leads.members.add(cid)
    policy = escalation_policy_create(name="night", steps=[StepSpec(groups=[leads], delay_min=5)])
    active = {"escalation_policy": policy, "escalation_status": "active", "escalation_step": 1}
    due = Alert.objects.create(message="Fire", next_escalation_at=now - hour, **active)
    Alert.objects.create(message="Later", next_escalation_at=now + hour, **active)
    Alert.objects.create(
        message="Over", status=Alert.Status.RESOLVED, next_escalation_at=now - hour, **active
    )
    Alert.objects.create(
        message="Done",
        escalation_policy=policy,
        escalation_status="satisfied",
        escalation_step=1,
        next_escalation_at=now - hour,
    )

    def count() -> int:
        with connection.cursor() as cursor:
            cursor.execute(_query(render))
            (value,) = cursor.fetchone()
        return value

    assert count() == 1  # only the active step due now wakes a worker scaled to zero
    assert alerts_escalate_due(now=now) == 1
    # The step queued Cid's message: now that is what the scaler sees.
    assert Delivery.objects.get(alert=due).contact_name == "Cid"
    assert count() == 1


def test_the_keda_query_counts_what_the_querysets_call_due(postgresql: None, render: Any) -> None:
    """The chart's SQL is a literal: it must count the rows the runner's querysets take (and
    seconds_until_due waits for), for rows in every state."""
    from modules.sos.models import Alert, Delivery
    from modules.sos.outbox.dispatch import seconds_until_due

    now = timezone.now()
    hour = timedelta(hours=1)
    State = Delivery.State
    active = {"escalation_status": "active"}
    alerts = [
        # (fields, due)
        ({"message": "Plain"}, False),
        ({"message": "Remind", "require_ack": True, "next_reminder_at": now - hour}, True),
        ({"message": "Remind later", "require_ack": True, "next_reminder_at": now + hour}, False),
        ({"message": "No ack", "next_reminder_at": now - hour}, False),
        (
            {
                "message": "Remind closed",
                "status": Alert.Status.CANCELLED,
                "require_ack": True,
                "next_reminder_at": now - hour,
            },
            False,
        ),
        ({"message": "Step", "next_escalation_at": now - hour, **active}, True),
        (
            {"message": "Step later", "next_escalation_at": now + hour, **active},
            False,
        ),
        ({"message": "Step unset", **active}, False),
        (
            {
                "message": "Step closed",
                "status": Alert.Status.RESOLVED,
                "escalation_status": "active",
                "next_escalation_at": now - hour,
            },
            False,
        ),
        (
            {"message": "Satisfied", "escalation_status": "satisfied", "next_escalation_at": now},
            False,
        ),
        (
            {"message": "Exhausted", "escalation_status": "exhausted", "next_escalation_at": now},
            False,
        ),
        (
            # Planned: its reminder time follows the plan's, which is what counts.
            {
                "message": "Planned",
                "require_ack": True,
                "escalation_status": "active",
                "next_escalation_at": now + hour,
                "next_reminder_at": now - hour,
            },
            False,
        ),
    ]
    made = [Alert.objects.create(**fields) for fields, _ in alerts]
    open_alert, closed = made[0], made[4]
    deliveries = [
        # (alert, state, next_attempt_at, lease_until, due)
        (open_alert, State.PENDING, now - hour, None, True),
        (open_alert, State.PENDING, now + hour, None, False),
        (open_alert, State.PENDING, None, None, False),
        (closed, State.PENDING, now - hour, None, True),  # claimed, then cancelled: work
        (open_alert, State.SENDING, now - hour, now - hour, True),  # its worker was lost
        (closed, State.SENDING, now - hour, now - hour, True),
        (open_alert, State.SENDING, now - hour, now + hour, False),  # in flight
        (open_alert, State.SENT, now - hour, None, False),
        (open_alert, State.FAILED, now - hour, now - hour, False),
        (open_alert, State.CANCELLED, now - hour, None, False),
        (open_alert, State.ACKNOWLEDGED, None, None, False),
    ]
    for n, (alert, state, next_at, lease, _) in enumerate(deliveries):
        Delivery.objects.create(
            alert=alert,
            contact_name=f"c{n}",
            kind="email",
            address=f"c{n}@example.com",
            state=state,
            next_attempt_at=next_at,
            lease_until=lease,
        )

    def keda() -> int:
        with connection.cursor() as cursor:
            cursor.execute(_query(render))
            (value,) = cursor.fetchone()
        return value

    expected = sum(due for *_, due in alerts) + sum(due for *_, due in deliveries)
    counted = Delivery.objects.work_due(now).count() + Alert.objects.escalation_due(now).count()
    assert keda() == counted == expected == 6
    assert seconds_until_due(now=now) == 0

    # With nothing due, the scaler sees nothing and the worker sleeps until the first row due.
    Delivery.objects.work_due(now).delete()
    Alert.objects.escalation_due(now).delete()
    assert keda() == 0
    assert seconds_until_due(now=now) == pytest.approx(hour.total_seconds())
