"""/api/sos/integrations/: operators create Events API v2 integrations and get their routing
key; viewers read them without the key; templates are sandboxed; keys rotate."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from modules.sos import integrations
from modules.sos.integration_models import Integration
from modules.sos.models import Alert, AlertEvent, Delivery, Group

URL = "/api/sos/integrations/"
ENQUEUE = "/api/sos/events/v2/enqueue"


@pytest.fixture
def oncall(make_contact) -> Group:
    make_contact("Ann", email="ann@example.com", groups=["oncall"])
    return Group.objects.get(name="oncall")


def trigger(routing_key: str, **changes: object):
    body = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": "srv01/mysql",
        "payload": {"summary": "DISK at 99%", "source": "srv01", "severity": "critical"},
        **changes,
    }
    return APIClient().post(ENQUEUE, json.dumps(body), content_type="application/json")


def test_an_operator_creates_an_integration_and_gets_its_routing_key(operator_api, oncall):
    response = operator_api.post(URL, {"name": "Alertmanager", "groups": [oncall.pk]})
    assert response.status_code == 201, response.content
    body = response.json()
    assert len(body["routing_key"]) == 32
    assert body["enqueue_url"] == "http://portal.test/api/sos/events/v2/enqueue"  # public
    assert body["created_by"] == "olivia"
    assert body["severity_map"]["error"] == "critical"
    assert trigger(body["routing_key"]).status_code == 202
    assert Alert.objects.get().source == "pagerduty:Alertmanager"


def test_a_viewer_reads_integrations_but_not_their_keys_and_cannot_write(
    viewer_api, operator, oncall
):
    integration = integrations.integration_create(name="Kuma", groups=[oncall])
    (listed,) = viewer_api.get(URL).json()["results"]
    assert listed["routing_key"] == "…" + integration.routing_key[-4:]
    assert viewer_api.post(URL, {"name": "X"}).status_code == 403
    rotate = viewer_api.post(f"{URL}{integration.pk}/rotate-key/")
    assert rotate.status_code == 403


def test_rotating_the_key_refuses_the_old_one_at_once(operator_api, oncall):
    integration = integrations.integration_create(name="Kuma", groups=[oncall])
    old = integration.routing_key
    response = operator_api.post(f"{URL}{integration.pk}/rotate-key/")
    assert response.status_code == 200
    new = response.json()["routing_key"]
    assert new != old
    assert len(new) == 32
    assert trigger(old).status_code == 400
    assert trigger(new).status_code == 202


@pytest.mark.parametrize(
    "template",
    [
        "{% load static %}{% static 'x' %}",
        "{% include 'sos/webhook-schema.json' %}",
        "{% debug %}",
        "{% extends 'base.html' %}",
        "{{ summary|nosuchfilter }}",
        "{% if %}",
    ],
)
def test_templates_that_reach_outside_the_event_or_do_not_parse_are_refused(
    operator_api, oncall, template
):
    response = operator_api.post(URL, {"name": "Bad", "message_template": template}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_error"
    assert not Integration.objects.exists()


def test_a_rendered_message_is_bounded_and_falls_back_to_the_summary(operator_api, oncall):
    long = operator_api.post(
        URL,
        {
            "name": "Long",
            "groups": [oncall.pk],
            "message_template": "{% for i in custom_details %}{{ custom_details }}{% endfor %}",
        },
        format="json",
    ).json()
    details = ["x" * 100] * 50
    trigger(long["routing_key"], payload={"summary": "S", "source": "s", "severity": "info",
                                          "custom_details": details})  # fmt: skip
    assert len(Alert.objects.get().message) == 2000
    empty = operator_api.post(
        URL, {"name": "Empty", "groups": [oncall.pk], "message_template": "{{ nothing }}"}
    ).json()
    trigger(empty["routing_key"], dedup_key="other")
    assert Alert.objects.get(source="pagerduty:Empty").message == "DISK at 99%"


def test_the_severity_map_decides_the_alert_severity_and_is_checked(operator_api, oncall):
    bad = operator_api.post(
        URL, {"name": "Bad", "severity_map": {"critical": "doom"}}, format="json"
    )
    assert bad.status_code == 400
    good = operator_api.post(
        URL,
        {"name": "Calm", "groups": [oncall.pk], "severity_map": {"critical": "warning"}},
        format="json",
    ).json()
    assert good["severity_map"] == {
        "critical": "warning",
        "error": "critical",
        "warning": "warning",
        "info": "info",
    }
    trigger(good["routing_key"])
    assert Alert.objects.get().severity == "warning"


def test_names_are_unique_whatever_their_case_and_fit_the_alert_source(operator_api, oncall):
    assert operator_api.post(URL, {"name": "Grafana"}).status_code == 201
    assert operator_api.post(URL, {"name": "grafana"}).status_code == 400
    assert operator_api.post(URL, {"name": "g" * 31}).status_code == 400


def test_an_integrations_escalation_policy_escalates_its_alerts(operator, oncall, make_contact):
    from modules.sos.escalation import StepSpec, escalation_policy_create

    boss = make_contact("Boss", email="boss@example.com", groups=["leads"])
    policy = escalation_policy_create(
        name="Night", steps=[StepSpec(groups=[Group.objects.get(name="leads")], delay_min=5)]
    )
    integration = integrations.integration_create(
        name="Night", groups=[oncall], escalation_policy=policy, created_by=operator
    )
    assert trigger(integration.routing_key).status_code == 202
    alert = Alert.objects.get()
    assert alert.escalation_policy == policy
    assert alert.next_escalation_at is not None
    assert boss.pk not in set(alert.deliveries.values_list("contact_id", flat=True))
    ack = trigger(integration.routing_key, event_action="acknowledge")
    assert ack.status_code == 202
    alert.refresh_from_db()
    assert alert.next_escalation_at is None
    assert alert.events.filter(kind=AlertEvent.Kind.ACKNOWLEDGED).exists()
    assert not Delivery.objects.filter(step__gt=0).exists()


def test_the_enqueue_endpoint_is_documented_with_pagerdutys_answers(operator_api):
    schema = operator_api.get("/api/schema/?format=json").json()
    operation = schema["paths"][ENQUEUE]["post"]
    assert {"202", "400", "429"} <= set(operation["responses"])
    for code in ("400", "429"):
        ref = operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/SosEventError")
    assert operation["security"] == [{}]
    assert URL in schema["paths"]


def test_the_admin_refuses_a_forbidden_template_and_rotates_keys(db):
    from django.test import Client

    from portal.test import PASSWORD, make_user

    make_user("root", role=None, is_staff=True, is_superuser=True)
    client = Client()
    client.login(username="root", password=PASSWORD)
    form = {
        "name": "Grafana",
        "message_template": "{% debug %}",
        "severity_map": json.dumps({"critical": "critical"}),
        "enabled": "on",
    }
    refused = client.post("/admin/sos/integration/add/", form)
    assert refused.status_code == 200
    assert "is not allowed in a message template" in refused.content.decode()
    form["message_template"] = "{{ summary }}"
    assert client.post("/admin/sos/integration/add/", form).status_code == 302
    integration = Integration.objects.get()
    assert integration.created_by.username == "root"
    old = integration.routing_key
    client.post(
        "/admin/sos/integration/",
        {"action": "rotate_keys", "_selected_action": [integration.pk]},
    )
    integration.refresh_from_db()
    assert integration.routing_key != old
    assert client.get("/admin/sos/integrationalert/").status_code == 200
