"""Events API v2 integrations next to the rest of the portal: a sender's dedup_key never
reaches another source's alerts, a policy-only integration pages the policy, and an
acknowledgement stops the escalation the way escalation_cancel does."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from modules.sos import integrations, services
from modules.sos.escalation import StepSpec, escalation_policy_create
from modules.sos.models import Alert, AlertEvent, Group

URL = "/api/sos/events/v2/enqueue"


def post(routing_key: str, action: str = "trigger", dedup_key: str = "k1", **payload: str):
    body: dict = {"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key}
    if action == "trigger":
        body["payload"] = {"summary": "Disk full", "source": "db1", "severity": "critical"}
        body["payload"].update(payload)
    return APIClient().post(URL, json.dumps(body), content_type="application/json")


def test_a_senders_dedup_key_neither_absorbs_nor_resolves_a_netprobe_alert(make_contact, operator):
    make_contact("Ann", email="ann@example.com", groups=["hooks"])
    make_contact("Mon", email="mon@example.com", groups=["monitors"])
    hooks = integrations.integration_create(
        name="Hooks", groups=[Group.objects.get(name="hooks")], created_by=operator
    )
    assert post(hooks.routing_key, dedup_key="netprobe-monitor-1").status_code == 202
    raised = services.alert_raise(
        message="Monitor 1 down", groups=["monitors"], source="netprobe",
        dedup_key="netprobe-monitor-1",
    )  # fmt: skip
    assert not raised.deduplicated
    assert [d.contact_name for d in raised.alert.deliveries.all()] == ["Mon"]
    resolved = services.alert_resolve(dedup_key="netprobe-monitor-1")
    assert resolved is not None
    assert resolved.pk == raised.alert.pk
    integration_alert = Alert.objects.exclude(pk=raised.alert.pk).get()
    assert integration_alert.status == "open"


def test_an_integration_with_only_a_policy_pages_the_first_step_once(
    make_contact, operator, dispatch
):
    make_contact("Ann", email="ann@example.com", groups=["first"])
    make_contact("Bob", email="bob@example.com", groups=["second"])
    policy = escalation_policy_create(
        name="Oncall",
        steps=[
            StepSpec(groups=[Group.objects.get(name="first")], delay_min=0),
            StepSpec(groups=[Group.objects.get(name="second")], delay_min=5),
        ],
    )
    only_policy = integrations.integration_create(
        name="Policy only", escalation_policy=policy, created_by=operator
    )
    response = post(only_policy.routing_key)
    assert response.status_code == 202, response.content
    alert = Alert.objects.get()
    assert [d.contact_name for d in alert.deliveries.all()] == ["Ann"]
    dispatch()
    dispatch(now=timezone.now() + timedelta(minutes=1))
    assert alert.deliveries.get().round == 0  # step 1 was the raise: Ann is not paged again
    dispatch(now=timezone.now() + timedelta(minutes=6))
    assert sorted(d.contact_name for d in alert.deliveries.all()) == ["Ann", "Bob"]


def test_an_events_api_acknowledge_stops_the_policy_as_escalation_cancel_does(
    make_contact, operator, dispatch
):
    make_contact("Ann", email="ann@example.com", groups=["first"])
    make_contact("Bob", email="bob@example.com", groups=["second"])
    policy = escalation_policy_create(
        name="Two steps",
        steps=[StepSpec(groups=[Group.objects.get(name="second")], delay_min=5)],
    )
    hooks = integrations.integration_create(
        name="Hooks", groups=[Group.objects.get(name="first")], escalation_policy=policy,
        created_by=operator,
    )  # fmt: skip
    post(hooks.routing_key)
    dispatch()
    assert post(hooks.routing_key, action="acknowledge").status_code == 202
    alert = Alert.objects.get()
    assert alert.escalation_status == "satisfied"
    stopped = AlertEvent.objects.get(kind="escalated", data__stopped=True)
    assert "acknowledged by Events API v2 (Events API)" in stopped.message
    dispatch(now=timezone.now() + timedelta(minutes=10))
    assert [d.contact_name for d in alert.deliveries.all()] == ["Ann"]


def test_the_admin_refuses_what_the_api_refuses(operator):
    from modules.sos.integration_admin import IntegrationForm

    integrations.integration_create(name="Prometheus", created_by=operator)
    taken = IntegrationForm(data={"name": "PROMETHEUS", "message_template": "{{ summary }}",
                                  "severity_map": "{}"})  # fmt: skip
    assert not taken.is_valid()
    assert "already exists" in str(taken.errors["name"])
    wrong = IntegrationForm(data={"name": "Kuma", "message_template": "{{ summary }}",
                                  "severity_map": '{"critical": "apocalyptic"}'})  # fmt: skip
    assert not wrong.is_valid()
    assert "severity_map" in wrong.errors


@pytest.mark.django_db(transaction=True)
def test_racing_creates_of_one_name_answer_400_not_500(operator):
    import threading

    from django.db import connection

    client_codes: list[int] = []
    start = threading.Barrier(4)

    def run() -> None:
        try:
            start.wait()
            client = APIClient()
            client.force_authenticate(operator)
            body = {"name": "Same", "groups": []}
            client_codes.append(
                client.post("/api/sos/integrations/", body, format="json").status_code
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(client_codes) == [201, 400, 400, 400]


@pytest.mark.parametrize(
    "template",
    [
        '{{ summary|ljust:"300000000" }}',
        '{{ summary|default:"x"|rjust:"99999999" }}',
        '{% filter center:"99999999" %}{{ summary }}{% endfilter %}',
        '{{ severity|stringformat:"0300000000d" }}',
        "{% for a in links %}{% for b in links %}{% for c in links %}.{% endfor %}{% endfor %}"
        "{% endfor %}",
    ],
)
def test_a_template_that_could_grow_without_bound_is_refused(operator, template):
    from modules.sos.errors import InvalidIntegration

    with pytest.raises(InvalidIntegration) as refused:
        integrations.integration_create(name="Big", message_template=template, created_by=operator)
    assert refused.value.details["field"] == "message_template"


def test_loops_over_what_a_sender_posts_see_a_bounded_part_of_it():
    import time

    template = (
        "{% for k, v in custom_details.items %}{% for x in links %}{{ v }}{% endfor %}{% endfor %}"
    )
    details = {f"k{i}": "v" * 5000 for i in range(5000)}
    event = {"payload": {"summary": "s", "custom_details": details}, "links": [1] * 5000}
    started = time.monotonic()
    text = integrations.message_render(integrations.template_check(template), event)
    assert time.monotonic() - started < 2
    assert len(text) <= 2000
