"""`require_ack` has three states when an alert is raised: left out, the groups' default
escalation policy applies; `true`, the same; `false`, no policy is taken from the groups, and
naming one with it is refused. Escalation runs through the real dispatcher to loopback webhooks."""

from __future__ import annotations

import io
from collections import Counter
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.utils import timezone

from modules.sos import services
from modules.sos.escalation import StepSpec, escalation_policy_create
from modules.sos.models import Alert, Group
from modules.sos.tests.test_alert_page import login

ALERTS = "/api/sos/alerts/"


@pytest.fixture
def ops(make_contact, receiver) -> Group:
    """ops (Ann) whose default policy pages leads (Cid) after 5 minutes of silence."""
    make_contact("Ann", webhook=receiver.url("/ann"), groups=["ops"])
    make_contact("Cid", webhook=receiver.url("/cid"), groups=["leads"])
    leads = Group.objects.get(name="leads")
    night = escalation_policy_create(name="night", steps=[StepSpec(groups=[leads], delay_min=5)])
    ops = Group.objects.get(name="ops")
    services.group_set_escalation_policy(group=ops, policy=night)
    return ops


def hits(receiver) -> Counter[str]:
    return Counter(r.path.strip("/").title() for r in receiver.requests)


def raise_fire(operator_api, **extra: Any) -> dict[str, Any]:
    response = operator_api.post(
        ALERTS, {"message": "Fire", "groups": ["ops"], **extra}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def after_the_step(dispatch) -> None:
    dispatch(now=timezone.now())
    dispatch(now=timezone.now() + timedelta(minutes=5, seconds=5))


def test_left_out_the_groups_policy_escalates_to_the_leads(operator_api, ops, receiver, dispatch):
    body = raise_fire(operator_api)
    assert body["escalation_policy"] == "night"
    assert body["require_ack"] is True
    assert body["escalation"]["status"] == "active"

    after_the_step(dispatch)
    assert hits(receiver) == {"Ann": 1, "Cid": 1}


def test_explicit_false_takes_no_policy_and_escalates_to_nobody(
    operator_api, ops, receiver, dispatch
):
    body = raise_fire(operator_api, require_ack=False)
    assert body["escalation_policy"] is None
    assert body["require_ack"] is False
    assert body["escalation"] is None

    after_the_step(dispatch)
    assert hits(receiver) == {"Ann": 1}
    alert = Alert.objects.get(pk=body["id"])
    assert (alert.escalation_policy_id, alert.next_escalation_at) == (None, None)
    assert [d.contact_name for d in alert.deliveries.all()] == ["Ann"]


def test_explicit_true_still_follows_the_groups_policy(operator_api, ops):
    body = raise_fire(operator_api, require_ack=True)
    assert body["escalation_policy"] == "night"


def test_explicit_false_with_a_named_policy_is_a_400(operator_api, ops):
    response = operator_api.post(
        ALERTS,
        {"message": "Fire", "groups": ["ops"], "require_ack": False, "escalation_policy": "night"},
        format="json",
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "acknowledgements" in error["message"]
    assert not Alert.objects.exists()


@pytest.mark.parametrize("body_format", ["multipart", "urlencoded"])
def test_a_form_body_that_leaves_it_out_follows_the_groups_policy(operator_api, ops, body_format):
    """Form clients (`curl -d`, `-F`) never send an unchecked box: left out is not false."""
    body = {"message": "Fire", "groups": "ops"}
    if body_format == "multipart":
        response = operator_api.post(ALERTS, body, format="multipart")
    else:
        response = operator_api.post(
            ALERTS, urlencode(body), content_type="application/x-www-form-urlencoded"
        )
    assert response.status_code == 201, response.content
    assert (response.json()["escalation_policy"], response.json()["require_ack"]) == ("night", True)


def test_a_form_body_naming_a_policy_is_raised(operator_api, ops):
    response = operator_api.post(
        ALERTS,
        {"message": "Fire", "groups": "ops", "escalation_policy": "night"},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert response.json()["escalation_policy"] == "night"


def test_a_form_body_can_still_say_false(operator_api, ops):
    response = operator_api.post(
        ALERTS, {"message": "Fire", "groups": "ops", "require_ack": "false"}, format="multipart"
    )
    assert response.status_code == 201, response.content
    assert (response.json()["escalation_policy"], response.json()["require_ack"]) == (None, False)


def test_one_idempotency_key_cannot_mean_both_with_and_without_the_policy(operator_api, ops):
    first = operator_api.post(
        ALERTS, {"message": "Fire", "groups": ["ops"]}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert first.status_code == 201
    again = operator_api.post(
        ALERTS,
        {"message": "Fire", "groups": ["ops"], "require_ack": False},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert again.status_code == 422
    assert again.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    ("choice", "policy", "require_ack"),
    [("", "night", True), ("true", "night", True), ("on", "night", True), ("false", None, False)],
)
def test_the_raise_form_offers_the_same_three_states(operator, ops, choice, policy, require_ack):
    form = {"message": "Fire", "severity": "critical", "groups": [ops.pk], "require_ack": choice}
    assert login(operator).post("/sos/", form).status_code == 302
    alert = Alert.objects.get()
    assert (getattr(alert.escalation_policy, "name", None), alert.require_ack) == (
        policy,
        require_ack,
    )


def test_the_raise_form_refuses_false_with_a_policy(operator, ops):
    form = {
        "message": "Fire",
        "severity": "critical",
        "groups": [ops.pk],
        "require_ack": "false",
        "escalation_policy": ops.escalation_policy_id,
    }
    response = login(operator).post("/sos/", form)
    assert response.status_code == 200
    assert b"An escalation policy needs acknowledgements" in response.content
    assert not Alert.objects.exists()


@pytest.mark.parametrize(
    ("flags", "policy", "require_ack"),
    [
        ((), "night", True),
        (("--require-ack",), "night", True),
        (("--no-require-ack",), None, False),
    ],
)
def test_sos_raise_offers_the_same_three_states(ops, flags, policy, require_ack):
    call_command("sos_raise", "-g", "ops", "-m", "Fire", *flags, stdout=io.StringIO())
    alert = Alert.objects.get()
    assert (getattr(alert.escalation_policy, "name", None), alert.require_ack) == (
        policy,
        require_ack,
    )
    assert (alert.next_escalation_at is None) is (policy is None)
