"""Stop rules count acknowledgements, not any answer: "I need help" and "Can't help" still page
the next step. all_ack waits only for the people a message reached."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from modules.sos.models import Alert
from modules.sos.outbox.escalation import alerts_escalate_due
from modules.sos.tests.test_escalation import PEOPLE, answer, hits, policy, raise_at


@pytest.fixture
def team(make_contact, receiver):
    for name, group in PEOPLE.items():
        make_contact(name, webhook=receiver.url(f"/{name.lower()}"), groups=[group])
    return receiver


@pytest.mark.parametrize(
    ("given", "escalates"),
    [
        ("received", False),
        ("safe", False),
        ("on_it", False),
        ("need_help", True),
        ("cant_help", True),
    ],
)
def test_only_an_acknowledging_answer_stops_the_escalation(
    team, dispatch, django_capture_on_commit_callbacks, given, escalates
):
    policy("rule", {"groups": ["leads"], "delay_min": 5, "stop_rule": "any_ack"})
    start = timezone.now()
    source = "netprobe" if given in ("on_it", "cant_help") else "api"  # an incident's answers
    alert = raise_at(start, escalation_policy="rule", source=source)
    dispatch(now=start)
    answer(alert.deliveries.get(contact_name="Ann"), django_capture_on_commit_callbacks, given)
    dispatch(now=start + timedelta(minutes=5))
    assert ("Cid" in hits(team)) is escalates
    assert hits(team)["Ann"] == 1  # whoever answered, even "need help", is not paged again


def test_all_acknowledged_is_met_when_everyone_reached_acknowledged(
    team, dispatch, django_capture_on_commit_callbacks
):
    team.script("/bob", 404)  # Bob's address is wrong: he can never acknowledge
    policy("all", {"groups": ["leads"], "delay_min": 5, "stop_rule": "all_ack"})
    start = timezone.now()
    alert = raise_at(start, escalation_policy="all")
    dispatch(now=start)
    assert alert.deliveries.get(contact_name="Bob").state == "failed"
    answer(alert.deliveries.get(contact_name="Ann"), django_capture_on_commit_callbacks)
    dispatch(now=start + timedelta(minutes=5))
    assert "Cid" not in hits(team)
    alert.refresh_from_db()
    assert alert.escalation_status == "satisfied"


def test_a_called_off_resend_is_again_the_message_delivered_before(
    team, dispatch, django_capture_on_commit_callbacks
):
    policy("again", {"remind_recipients": True, "delay_min": 5})
    start = timezone.now()
    alert = raise_at(start, escalation_policy="again")
    dispatch(now=start)
    bob = alert.deliveries.get(contact_name="Bob")
    delivered_id = bob.provider_message_id
    assert delivered_id
    assert alerts_escalate_due(now=start + timedelta(minutes=5)) == 1  # re-sends queued
    answer(alert.deliveries.get(contact_name="Ann"), django_capture_on_commit_callbacks)
    bob.refresh_from_db()
    assert (bob.state, bob.round, bob.provider_message_id) == ("sent", 0, delivered_id)


def test_a_reminder_a_worker_of_the_previous_version_took_is_not_sent_again(team, dispatch):
    start = timezone.now()
    alert = raise_at(start, require_ack=True, reminder_max=2)
    dispatch(now=start)
    due = start + timedelta(minutes=alert.reminder_interval_min)
    # The version before plans claimed reminders by moving next_reminder_at (reminders.py).
    taken = Alert.objects.filter(pk=alert.pk, next_reminder_at__lte=due).update(
        next_reminder_at=due + timedelta(minutes=alert.reminder_interval_min),
        reminders_sent=1,
    )
    assert taken == 1
    assert alerts_escalate_due(now=due) == 0
    alert.refresh_from_db()  # and the plan follows the older worker's schedule from here
    assert (alert.next_escalation_at, alert.escalation_waves) == (alert.next_reminder_at, 1)
