"""The raise form follows the groups' default escalation policy unless the operator changed
the reminder fields (which the form shows filled in with the defaults)."""

from __future__ import annotations

from django.conf import settings

from modules.sos import services
from modules.sos.escalation import StepSpec, escalation_policy_create
from modules.sos.models import Alert, Group
from modules.sos.tests.test_alert_page import login


def setup_ops(make_contact) -> Group:
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    make_contact("Cid", email="cid@example.com", groups=["leads"])
    leads = Group.objects.get(name="leads")
    policy = escalation_policy_create(name="night", steps=[StepSpec(groups=[leads], delay_min=5)])
    ops = Group.objects.get(name="ops")
    services.group_set_escalation_policy(group=ops, policy=policy)
    return ops


def form(group: Group, **extra: object) -> dict[str, object]:
    return {
        "message": "Fire",
        "severity": "critical",
        "groups": [group.pk],
        "require_ack": "on",
        "reminder_interval_min": settings.SOS_REMINDER_INTERVAL_MIN,
        "reminder_max": settings.SOS_REMINDER_MAX,
        "form_key": "k-1",
        **extra,
    }


def test_a_ticked_acknowledgement_with_untouched_reminders_follows_the_group_policy(
    operator, make_contact
):
    ops = setup_ops(make_contact)
    assert login(operator).post("/sos/", form(ops)).status_code == 302
    alert = Alert.objects.get()
    assert alert.escalation_policy is not None
    assert alert.escalation_policy.name == "night"


def test_changed_reminder_fields_are_the_alerts_own(operator, make_contact):
    ops = setup_ops(make_contact)
    response = login(operator).post("/sos/", form(ops, reminder_max=1))
    assert response.status_code == 302
    alert = Alert.objects.get()
    assert alert.escalation_policy is None
    assert alert.reminder_max == 1
