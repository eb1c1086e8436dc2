"""Escalation policies: the admin refuses to delete one open alerts escalate with (as the API
answers 409), and a name picks the policy written that way before one differing in case."""

from __future__ import annotations

import re

from modules.sos import services
from modules.sos.escalation import (
    StepSpec,
    escalation_policy_create,
    escalation_policy_update,
    lookup_policy,
)
from modules.sos.escalation_state import escalation_cancel
from modules.sos.models import EscalationPolicy, Group
from modules.sos.tests.test_admin import admin_client  # noqa: F401
from modules.sos.tests.test_alert_page import login


def make_policy(name: str) -> EscalationPolicy:
    leads = Group.objects.get_or_create(name="leads")[0]
    return escalation_policy_create(name=name, steps=[StepSpec(groups=[leads], delay_min=5)])


def test_the_admin_does_not_delete_a_policy_open_alerts_escalate_with(
    admin_client,  # noqa: F811
    make_contact,
):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    policy = make_policy("night")
    services.alert_raise(message="Fire", groups=["ops"], escalation_policy="night")
    url = f"/admin/sos/escalationpolicy/{policy.pk}/delete/"
    response = admin_client.post(url, {"post": "yes"}, follow=True)
    assert EscalationPolicy.objects.filter(pk=policy.pk).exists()
    assert "resolve them first" in response.content.decode()
    response = admin_client.post(
        "/admin/sos/escalationpolicy/",
        {"action": "delete_selected", "_selected_action": [policy.pk], "post": "yes"},
        follow=True,
    )
    assert EscalationPolicy.objects.filter(pk=policy.pk).exists()


def test_a_policy_name_matches_exactly_before_any_case(db):
    upper = make_policy("Night")
    lower = make_policy("night")
    assert lookup_policy("night") == lower
    assert lookup_policy("Night") == upper
    assert lookup_policy("NIGHT") == upper  # no exact match: the first in any case


def test_the_alert_page_redraws_when_its_policy_is_edited(viewer, make_contact):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    policy = make_policy("night")
    alert = services.alert_raise(message="Fire", groups=["ops"], escalation_policy="night").alert
    client = login(viewer)
    url = f"/sos/alerts/{alert.pk}/live/"
    version = re.search(r"\?v=(\w+)", client.get(url).content.decode()).group(1)
    assert client.get(url, {"v": version}).status_code == 204
    leads = Group.objects.get(name="leads")
    escalation_policy_update(
        policy=policy, name="night shift", steps=[StepSpec(groups=[leads], delay_min=10)]
    )
    assert client.get(url, {"v": version}).status_code == 200


def test_the_escalation_line_says_its_rule_and_why_it_stopped_in_words(viewer, make_contact):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    make_policy("night")
    alert = services.alert_raise(message="Fire", groups=["ops"], escalation_policy="night").alert
    client = login(viewer)
    page = client.get(f"/sos/alerts/{alert.pk}/").content.decode()
    assert "stops on: any acknowledgement" in page
    assert "any_ack" not in page
    escalation_cancel(alert_id=alert.pk, reason="acknowledged through the Events API")
    page = client.get(f"/sos/alerts/{alert.pk}/").content.decode()
    assert "stopped at step 1 of 1: acknowledged through the Events API" in page
