"""Escalation policies: steps at their times, each silent recipient once per wave, stop rules,
answers that call escalations off, and two dispatcher passes that race. Every message goes
through the real dispatcher to a loopback webhook receiver."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from modules.sos import services
from modules.sos.errors import InvalidAlert
from modules.sos.escalation import StepSpec, escalation_policy_create
from modules.sos.models import Alert, Delivery, Group
from modules.sos.outbox.escalation import alerts_escalate_due

PEOPLE = {"Ann": "ops", "Bob": "ops", "Cid": "leads", "Dee": "leads", "Eve": "execs"}


@pytest.fixture
def team(make_contact, receiver):
    for name, group in PEOPLE.items():
        make_contact(name, webhook=receiver.url(f"/{name.lower()}"), groups=[group])
    return receiver


def policy(name: str = "night", *steps: dict[str, Any]):
    specs = []
    for step in steps:
        groups = [Group.objects.get(name=g) for g in step.pop("groups", [])]
        specs.append(StepSpec(groups=groups, **step))
    return escalation_policy_create(name=name, steps=specs)


def hits(receiver) -> Counter[str]:
    return Counter(r.path.strip("/").title() for r in receiver.requests)


def answer(delivery: Delivery, django_capture_on_commit_callbacks, value: str = "safe") -> None:
    # The hook runs once the answer is committed, as it does in production.
    with django_capture_on_commit_callbacks(execute=True):
        services.delivery_acknowledge(delivery=delivery, answer=value)


def raise_at(start: datetime, **kwargs: Any) -> Alert:
    return services.alert_raise(message="Fire", groups=["ops"], now=start, **kwargs).alert


def test_it_runs_each_step_at_its_time_to_the_silent_recipients_only(team, dispatch):
    night = policy(
        "night", {"groups": ["leads"], "delay_min": 5}, {"groups": ["execs"], "delay_min": 10}
    )
    start = timezone.now()
    alert = raise_at(start, escalation_policy="night")
    assert alert.escalation_policy == night
    assert alert.require_ack
    dispatch(now=start)
    assert hits(team) == {"Ann": 1, "Bob": 1}

    dispatch(now=start + timedelta(minutes=4, seconds=59))
    assert hits(team) == {"Ann": 1, "Bob": 1}

    dispatch(now=start + timedelta(minutes=5))
    assert hits(team) == {"Ann": 1, "Bob": 1, "Cid": 1, "Dee": 1}
    cid = alert.deliveries.get(contact_name="Cid")
    assert (cid.state, cid.escalation, cid.step) == ("sent", True, 1)
    assert team.to("/cid")[0].json()["delivery"]["escalation"] is True

    dispatch(now=start + timedelta(minutes=14))
    assert "Eve" not in hits(team)
    dispatch(now=start + timedelta(minutes=15))
    assert hits(team)["Eve"] == 1
    alert.refresh_from_db()
    assert (alert.escalation_status, alert.escalation_step) == ("exhausted", 2)
    assert alert.next_escalation_at is None

    dispatch(now=start + timedelta(hours=3))
    assert sum(hits(team).values()) == 5
    messages = list(alert.events.filter(kind="escalated").values_list("message", flat=True))
    assert messages[0].startswith("Step 1 of 2 (night), wave 1 of 1")
    assert messages[0].endswith(": Cid, Dee")
    assert messages[1].endswith(": Eve")


def test_a_recipient_who_answered_is_never_escalated(
    team, dispatch, django_capture_on_commit_callbacks
):
    policy(
        "remind",
        {
            "groups": ["ops", "leads"],
            "remind_recipients": True,
            "delay_min": 5,
            "stop_rule": "all_ack",
        },
    )
    start = timezone.now()
    alert = raise_at(start, escalation_policy="remind")
    dispatch(now=start)
    answer(alert.deliveries.get(contact_name="Ann"), django_capture_on_commit_callbacks)

    dispatch(now=start + timedelta(minutes=5))
    assert hits(team) == {"Ann": 1, "Bob": 2, "Cid": 1, "Dee": 1}
    bob = alert.deliveries.get(contact_name="Bob")
    assert (bob.round, bob.step, bob.escalation) == (1, 1, False)
    assert alert.deliveries.get(contact_name="Ann").state == "acknowledged"
    event = alert.events.get(kind="escalated")
    assert event.data["recipients"] == ["Bob", "Cid", "Dee"]
    assert (event.data["new"], event.data["renotified"]) == (2, 1)


def test_a_step_is_repeated_to_its_silent_recipients_then_the_next_step_runs(team, dispatch):
    policy(
        "loud",
        {"groups": ["leads"], "delay_min": 5, "repeat": 2},
        {"groups": ["execs"], "delay_min": 1},
    )
    start = timezone.now()
    alert = raise_at(start, escalation_policy="loud")
    for minute in (0, 5, 10, 15, 16, 60):
        dispatch(now=start + timedelta(minutes=minute))
    assert hits(team) == {"Ann": 1, "Bob": 1, "Cid": 3, "Dee": 3, "Eve": 1}
    assert alert.deliveries.get(contact_name="Cid").round == 2
    waves = [e.data["wave"] for e in alert.events.filter(kind="escalated")]
    assert waves == [1, 2, 3, 1]


@pytest.mark.parametrize(
    ("rule", "needed", "answers", "escalates"),
    [
        ("any_ack", 1, ["Ann"], False),
        ("all_ack", 1, ["Ann"], True),
        ("all_ack", 1, ["Ann", "Bob"], False),
        ("responses", 2, ["Ann"], True),
        ("responses", 2, ["Ann", "Bob"], False),
    ],
)
def test_a_step_runs_only_while_its_stop_rule_is_not_met(
    team, dispatch, django_capture_on_commit_callbacks, rule, needed, answers, escalates
):
    policy(
        "rule",
        {"groups": ["leads"], "delay_min": 5, "stop_rule": rule, "responses_needed": needed},
    )
    start = timezone.now()
    alert = raise_at(start, escalation_policy="rule")
    dispatch(now=start)
    for name in answers:
        answer(alert.deliveries.get(contact_name=name), django_capture_on_commit_callbacks)
    dispatch(now=start + timedelta(minutes=5))
    assert ("Cid" in hits(team)) is escalates
    alert.refresh_from_db()
    assert alert.escalation_status == ("exhausted" if escalates else "satisfied")
    assert alert.next_escalation_at is None


def test_an_answer_calls_off_escalations_not_yet_sent(
    team, dispatch, django_capture_on_commit_callbacks
):
    policy("stop", {"groups": ["leads"], "delay_min": 5}, {"groups": ["execs"], "delay_min": 5})
    start = timezone.now()
    alert = raise_at(start, escalation_policy="stop")
    dispatch(now=start)
    assert alerts_escalate_due(now=start + timedelta(minutes=5)) == 1  # queued, not yet sent
    assert alert.deliveries.filter(step=1, state="pending").count() == 2

    answer(alert.deliveries.get(contact_name="Bob"), django_capture_on_commit_callbacks)
    dispatch(now=start + timedelta(hours=1))
    assert hits(team) == {"Ann": 1, "Bob": 1}
    assert set(alert.deliveries.filter(step=1).values_list("state", flat=True)) == {"cancelled"}
    alert.refresh_from_db()
    assert (alert.escalation_status, alert.next_escalation_at) == ("satisfied", None)
    stop = alert.events.filter(kind="escalated").last()
    assert stop.data["stopped"] is True
    assert stop.data["called_off"] == 2


def test_an_acknowledgement_of_the_whole_alert_stops_its_escalation(team, dispatch):
    policy("whole", {"groups": ["leads"], "delay_min": 5}, {"groups": ["execs"], "delay_min": 5})
    start = timezone.now()
    alert = raise_at(start, escalation_policy="whole")
    dispatch(now=start)
    alerts_escalate_due(now=start + timedelta(minutes=5))
    assert services.escalation_cancel(alert_id=alert.pk, reason="on it (Events API)") == 2
    dispatch(now=start + timedelta(hours=1))
    assert hits(team) == {"Ann": 1, "Bob": 1}
    assert alert.events.last().message == (
        "Escalation stopped: on it (Events API); 2 unsent escalation messages called off"
    )


def test_resolving_the_alert_stops_its_escalation(team, dispatch):
    policy("resolve", {"groups": ["leads"], "delay_min": 5})
    start = timezone.now()
    alert = raise_at(start, escalation_policy="resolve")
    dispatch(now=start)
    services.alert_resolve(alert=alert)
    alert.refresh_from_db()
    assert alert.next_escalation_at is None
    dispatch(now=start + timedelta(hours=1))
    assert hits(team) == {"Ann": 1, "Bob": 1}
    assert not alert.events.filter(kind="escalated").exists()


def test_an_alert_follows_its_groups_default_policy(team, dispatch):
    first = policy("first", {"groups": ["leads"], "delay_min": 5})
    second = policy("second", {"groups": ["execs"], "delay_min": 5})
    Group.objects.filter(name="leads").update(escalation_policy=second)
    Group.objects.filter(name="ops").update(escalation_policy=first)
    ops, leads = Group.objects.get(name="ops"), Group.objects.get(name="leads")
    lowest = first if ops.pk < leads.pk else second

    start = timezone.now()
    alert = services.alert_raise(message="Fire", groups=["ops", "leads"], now=start).alert
    assert alert.escalation_policy == lowest
    assert alert.events.get(kind="raised").data["escalation_policy"] == lowest.name

    named = services.alert_raise(
        message="Flood", groups=["ops"], escalation_policy=second, now=start
    ).alert
    assert named.escalation_policy == second

    own = services.alert_raise(
        message="Smoke", groups=["ops"], require_ack=True, reminder_max=1, now=start
    ).alert
    assert own.escalation_policy is None
    assert own.next_reminder_at is not None


def test_a_notice_does_not_take_its_groups_policy(team, dispatch):
    # A monitor's recovery is an info notice to the monitor's group: nobody is paged up the chain.
    Group.objects.filter(name="ops").update(
        escalation_policy=policy("night", {"groups": ["leads"], "delay_min": 5})
    )
    start = timezone.now()
    notice = services.alert_raise(
        message="web1 is up again", severity="info", groups=["ops"], source="netprobe", now=start
    ).alert
    assert notice.escalation_policy is None
    assert notice.next_escalation_at is None
    urgent = services.alert_raise(message="web1 is down", groups=["ops"], now=start).alert
    assert urgent.escalation_policy is not None


def test_a_policy_and_own_reminders_cannot_be_asked_for_together(team):
    policy("both", {"groups": ["leads"], "delay_min": 5})
    with pytest.raises(InvalidAlert) as info:
        services.alert_raise(
            message="Fire",
            groups=["ops"],
            require_ack=True,
            escalate_to="execs",
            escalation_policy="both",
        )
    assert info.value.details == {"field": "escalation_policy"}
    assert not Alert.objects.exists()


def race(dispatch, *, now: datetime) -> None:
    """Two dispatcher passes at the same time, each on its own connection."""
    ready = threading.Barrier(2)

    def run() -> None:
        try:
            ready.wait()
            dispatch(now=now, workers=2)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


@pytest.mark.django_db(transaction=True)
def test_two_racing_passes_escalate_each_silent_recipient_exactly_once(
    make_contact, receiver, dispatch
):
    for name, group in PEOPLE.items():
        make_contact(name, webhook=receiver.url(f"/{name.lower()}"), groups=[group])
    policy("race", {"groups": ["leads", "execs"], "delay_min": 5, "repeat": 1})
    start = timezone.now()
    alert = raise_at(start, escalation_policy="race")
    dispatch(now=start)
    for minute in (5, 10):
        race(dispatch, now=start + timedelta(minutes=minute))
    assert hits(receiver) == {"Ann": 1, "Bob": 1, "Cid": 2, "Dee": 2, "Eve": 2}
    assert alert.events.filter(kind="escalated").count() == 2


def test_an_alerts_own_reminders_and_escalate_to_group_run_as_its_plan(team, dispatch):
    start = timezone.now()
    alert = raise_at(
        start, require_ack=True, reminder_interval_min=5, reminder_max=2, escalate_to="leads"
    )
    assert (alert.escalation_status, alert.next_escalation_at) == ("active", alert.next_reminder_at)
    for minute in (0, 5, 10, 15, 60):
        dispatch(now=start + timedelta(minutes=minute))
    assert hits(team) == {"Ann": 3, "Bob": 3, "Cid": 1, "Dee": 1}
    alert.refresh_from_db()
    assert (alert.reminders_sent, alert.next_reminder_at) == (2, None)
    assert alert.escalated_at == start + timedelta(minutes=15)
    messages = list(alert.events.exclude(kind="attempt").values_list("kind", "message"))
    assert messages[1:] == [
        ("reminder", "Reminder 1 of 2 to 2 recipients: Ann, Bob"),
        ("reminder", "Reminder 2 of 2 to 2 recipients: Ann, Bob"),
        ("escalated", "Escalated to group leads: Cid, Dee"),
    ]


def test_a_reminder_skips_whoever_answered_on_another_channel(make_contact, dispatch):
    make_contact("Ann", email="ann@example.com", phone="+15555550100", groups=["ops"])
    start = timezone.now()
    alert = raise_at(start, require_ack=True, reminder_interval_min=5, reminder_max=1)
    alert.deliveries.filter(kind="sms").update(state="sent", sent_at=start)
    dispatch(now=start)
    services.delivery_acknowledge(delivery=alert.deliveries.get(kind="email"), answer="safe")
    dispatch(now=start + timedelta(minutes=5))
    assert alert.deliveries.get(kind="sms").round == 0


def test_reminders_scheduled_before_plans_existed_are_taken_up(team, dispatch):
    start = timezone.now()
    alert = raise_at(
        start, require_ack=True, reminder_interval_min=5, reminder_max=2, escalate_to="execs"
    )
    dispatch(now=start)
    # As a row written before this release: one reminder sent, no plan state.
    Alert.objects.filter(pk=alert.pk).update(
        reminders_sent=1, escalation_status="", escalation_step=0, next_escalation_at=None
    )
    dispatch(now=start + timedelta(minutes=5))
    dispatch(now=start + timedelta(minutes=10))
    assert hits(team) == {"Ann": 2, "Bob": 2, "Eve": 1}
    alert.refresh_from_db()
    assert (alert.reminders_sent, alert.escalation_status) == (2, "exhausted")
