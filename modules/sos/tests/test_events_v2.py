"""POST /api/sos/events/v2/enqueue: PagerDuty's Events API v2, as PagerDuty documents it and as
Alertmanager and Uptime Kuma post it. The routing key is the only credential."""

from __future__ import annotations

import hashlib
import json

import pytest
from rest_framework.test import APIClient

from modules.sos import integrations
from modules.sos.integration_models import Integration
from modules.sos.models import Alert, AlertEvent, Delivery

URL = "/api/sos/events/v2/enqueue"

# developer.pagerduty.com, "Send an Alert Event", example request payloads (the comment that
# precedes the trigger example is not JSON and is left out); routing keys filled in per test.
PD_TRIGGER = {
    "payload": {
        "summary": "Example alert on host1.example.com",
        "timestamp": "2015-07-17T08:42:58.315+0000",
        "source": "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003",  # noqa: E501
        "severity": "info",
        "component": "postgres",
        "group": "prod-datapipe",
        "class": "deploy",
        "custom_details": {"ping time": "1500ms", "load avg": 0.75},
    },
    "routing_key": "samplekeyhere",
    "dedup_key": "samplekeyhere",
    "images": [
        {
            "src": "https://www.pagerduty.com/wp-content/uploads/2016/05/pagerduty-logo-green.png",
            "href": "https://example.com/",
            "alt": "Example text",
        }
    ],
    "links": [{"href": "https://example.com/", "text": "Link text"}],
    "event_action": "trigger",
    "client": "Sample Monitoring Service",
    "client_url": "https://monitoring.example.com",
}
PD_ACKNOWLEDGE = {
    "routing_key": "routingkeyhere",
    "dedup_key": "dedupkeyhere",
    "event_action": "acknowledge",
}
PD_RESOLVE = {
    "routing_key": "routingkeyhere",
    "dedup_key": "dedupkeyhere",
    "event_action": "resolve",
}
# PagerDuty's documented 400 answer (v2.developer.pagerduty.com, "Send an Event").
PD_INVALID = {
    "status": "invalid event",
    "message": "Event object is invalid",
    "errors": ["Length of 'routing_key' is incorrect (should be 32 characters)"],
}


@pytest.fixture
def integration(make_contact, operator) -> Integration:
    make_contact("Ann", email="ann@example.com", groups=["oncall"])
    make_contact("Bob", email="bob@example.com", groups=["oncall"])
    from modules.sos.models import Group

    return integrations.integration_create(
        name="Prometheus", groups=[Group.objects.get(name="oncall")], created_by=operator
    )


def post(body: object, **extra: str):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return APIClient().post(URL, raw, content_type="application/json", **extra)


def event(template: dict, integration: Integration, **changes: object) -> dict:
    return {**template, "routing_key": integration.routing_key, **changes}


def test_it_accepts_pagerdutys_example_trigger_and_raises_an_alert(integration):
    response = post(event(PD_TRIGGER, integration))
    assert response.status_code == 202, response.content
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "samplekeyhere",
    }
    alert = Alert.objects.get()
    assert alert.source == "pagerduty:Prometheus"
    assert alert.message.startswith("Example alert on host1.example.com (monitoringtool:")
    assert alert.severity == "info"
    assert alert.integration_link.dedup_key == "samplekeyhere"
    assert alert.deliveries.count() == 2


def test_it_answers_with_a_generated_dedup_key_when_a_trigger_has_none(integration):
    body = event(PD_TRIGGER, integration)
    del body["dedup_key"]
    first = post(body).json()["dedup_key"]
    second = post(body).json()["dedup_key"]
    assert len(first) == 32
    assert first != second
    assert Alert.objects.count() == 2


def test_an_open_alert_absorbs_triggers_of_its_key_and_counts_them(integration):
    post(event(PD_TRIGGER, integration))
    for _ in range(2):
        assert post(event(PD_TRIGGER, integration)).status_code == 202
    alert = Alert.objects.get()
    assert alert.dedup_count == 2
    assert alert.deliveries.count() == 2  # nobody paged twice
    assert alert.events.filter(kind=AlertEvent.Kind.DEDUPLICATED).count() == 2


def test_pagerdutys_acknowledge_stops_reminders_and_is_logged(integration):
    integrations.integration_update(integration=integration, require_ack=True)
    post(event(PD_TRIGGER, integration, dedup_key="dedupkeyhere"))
    assert Alert.objects.get().next_reminder_at is not None
    response = post(event(PD_ACKNOWLEDGE, integration))
    assert response.status_code == 202
    assert response.json()["dedup_key"] == "dedupkeyhere"
    alert = Alert.objects.get()
    assert alert.status == Alert.Status.OPEN
    assert alert.next_reminder_at is None
    (ack,) = alert.events.filter(kind=AlertEvent.Kind.ACKNOWLEDGED)
    assert "Events API" in ack.message


def test_pagerdutys_resolve_resolves_and_a_later_trigger_opens_a_new_alert(integration):
    post(event(PD_TRIGGER, integration, dedup_key="dedupkeyhere"))
    assert post(event(PD_RESOLVE, integration)).status_code == 202
    first = Alert.objects.get()
    assert first.status == Alert.Status.RESOLVED
    assert set(first.deliveries.values_list("state", flat=True)) == {Delivery.State.CANCELLED}
    post(event(PD_TRIGGER, integration, dedup_key="dedupkeyhere"))
    assert Alert.objects.filter(status=Alert.Status.OPEN).exclude(pk=first.pk).count() == 1


@pytest.mark.parametrize("late", [PD_ACKNOWLEDGE, PD_RESOLVE])
def test_acknowledge_or_resolve_without_an_open_alert_is_dropped_with_202(integration, late):
    response = post(event(late, integration))
    assert response.status_code == 202
    assert response.json()["dedup_key"] == "dedupkeyhere"
    assert not Alert.objects.exists()


def test_a_key_is_matched_within_its_own_integration_only(integration, operator):
    other = integrations.integration_create(
        name="Kuma", groups=list(integration.groups.all()), created_by=operator
    )
    post(event(PD_TRIGGER, integration))
    post(event(PD_TRIGGER, other))
    assert Alert.objects.count() == 2
    post(event(PD_RESOLVE, other, dedup_key="samplekeyhere"))
    assert Alert.objects.get(source="pagerduty:Prometheus").status == Alert.Status.OPEN


def test_pagerdutys_documented_400_for_a_short_routing_key(integration):
    response = post(PD_TRIGGER)  # "samplekeyhere", as in PagerDuty's example
    assert response.status_code == 400
    assert response.json() == PD_INVALID


def test_an_unknown_or_disabled_routing_key_is_an_invalid_event(integration):
    unknown = post(event(PD_TRIGGER, integration, routing_key="0" * 32))
    assert unknown.status_code == 400
    assert unknown.json()["status"] == "invalid event"
    assert "routing key" in unknown.json()["errors"][0]
    integrations.integration_update(integration=integration, enabled=False)
    disabled = post(event(PD_TRIGGER, integration))
    assert disabled.status_code == 400
    assert "disabled" in disabled.json()["errors"][0]
    assert not Alert.objects.exists()


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"event_action": "explode"}, "event_action: "),
        ({"payload": {"summary": "x", "source": "y", "severity": "fatal"}}, "payload.severity: "),
        ({"payload": {"source": "y", "severity": "info"}}, "payload.summary: "),
        ({"payload": None}, "payload: "),
        ({"dedup_key": "k" * 256}, "dedup_key: "),
        ({"links": [{"text": "no href"}]}, "links.0.href: "),
    ],
)
def test_invalid_fields_are_named_in_pagerdutys_error_shape(integration, changes, error):
    response = post(event(PD_TRIGGER, integration, **changes))
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["status"] == "invalid event"
    assert body["message"] == "Event object is invalid"
    assert any(e.startswith(error) for e in body["errors"]), body
    assert not Alert.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        b"\xff\xfe",
        b"[" * 5000 + b"]" * 5000,
        b'"text"',
        b'{"routing_key": "\\ud800", "event_action": "trigger"}',
    ],
)
def test_a_body_that_is_not_an_event_object_is_a_400_never_a_500(integration, raw):
    response = post(raw)
    assert response.status_code == 400
    assert response.json()["status"] == "Unrecognized object"


def test_a_body_past_512_kb_is_refused_before_it_is_read(integration):
    body = event(PD_TRIGGER, integration)
    body["payload"] = {**body["payload"], "custom_details": {"blob": "x" * 600_000}}
    response = post(body)
    assert response.status_code == 400
    assert "512 KB" in response.json()["errors"][0]
    assert not Alert.objects.exists()


def test_acknowledge_and_resolve_need_a_dedup_key(integration):
    response = post({"routing_key": integration.routing_key, "event_action": "resolve"})
    assert response.status_code == 400
    assert response.json()["errors"] == ["'dedup_key' is required for resolve events"]


def test_an_integration_that_reaches_nobody_is_refused_and_remembered(operator):
    lonely = integrations.integration_create(name="Lonely", created_by=operator)
    response = post(event(PD_TRIGGER, lonely))
    assert response.status_code == 400
    assert "reaches nobody" in response.json()["errors"][0]
    lonely.refresh_from_db()
    assert "Nobody to alert" in lonely.last_error


def test_each_routing_key_is_throttled_on_its_own(integration, operator, settings):
    settings.SOS_EVENTS_RATE = "3/min"
    other = integrations.integration_create(
        name="Other", groups=list(integration.groups.all()), created_by=operator
    )
    codes = [post(event(PD_TRIGGER, integration)).status_code for _ in range(4)]
    assert codes == [202, 202, 202, 429]
    throttled = post(event(PD_TRIGGER, integration))
    assert throttled.json()["status"] == "throttle event"
    assert int(throttled["Retry-After"]) > 0
    assert post(event(PD_TRIGGER, other)).status_code == 202


def test_no_session_token_or_csrf_token_is_needed(integration):
    client = APIClient(enforce_csrf_checks=True)
    response = client.post(URL, event(PD_TRIGGER, integration), format="json")
    assert response.status_code == 202, response.content


def test_the_message_template_shapes_the_alert_text(integration):
    integrations.integration_update(
        integration=integration,
        message_template="[{{ severity|upper }}] {{ summary }} on {{ source }}"
        "{% for k, v in custom_details.items %} | {{ k }}={{ v }}{% endfor %} <&>",
    )
    post(event(PD_TRIGGER, integration))
    assert Alert.objects.get().message == (
        "[INFO] Example alert on host1.example.com on "
        f"{PD_TRIGGER['payload']['source']} | ping time=1500ms | load avg=0.75 <&>"
    )


# --- the tools that speak it ------------------------------------------------------------------


def alertmanager_body(routing_key: str, status: str) -> bytes:
    """What Alertmanager's notify/pagerduty (Events v2, `url:` set) posts with its defaults:
    dedup_key = sha256 of the group key, summary from pagerduty.default.description, source =
    client = "Alertmanager", severity "error", custom_details = the default details rendered
    (firing / resolved parsed back from toJson), Go's encoder with its trailing newline."""
    group_key = '{}/{severity="page"}:{alertname="InstanceDown"}'
    alert = {
        "annotations": {"summary": "Instance node1:9100 down"},
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-12-07T09:35:00Z",
        "fingerprint": "3f1f0bd4c3f3d2a1",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
        "labels": {"alertname": "InstanceDown", "instance": "node1:9100", "severity": "page"},
        "startsAt": "2026-12-07T09:30:00Z",
        "status": status,
    }
    firing, resolved = ([alert], []) if status == "firing" else ([], [alert])
    body = {
        "routing_key": routing_key,
        "dedup_key": hashlib.sha256(group_key.encode()).hexdigest(),
        "event_action": "trigger" if status == "firing" else "resolve",
        "payload": {
            "summary": "[FIRING:1] InstanceDown (node1:9100 page)"
            if status == "firing"
            else "[RESOLVED] InstanceDown (node1:9100 page)",
            "source": "Alertmanager",
            "severity": "error",
            "custom_details": {
                "firing": firing,
                "num_firing": len(firing),
                "num_resolved": len(resolved),
                "resolved": resolved,
            },
        },
        "client": "Alertmanager",
        "client_url": "http://alertmanager:9093/#/alerts?receiver=portal-sos",
    }
    return (json.dumps(body, separators=(",", ":")) + "\n").encode()


def test_alertmanager_pagerduty_configs_fire_and_resolve_one_alert(integration):
    firing = post(alertmanager_body(integration.routing_key, "firing"))
    assert firing.status_code == 202, firing.content
    again = post(alertmanager_body(integration.routing_key, "firing"))  # repeat_interval
    assert again.json()["dedup_key"] == firing.json()["dedup_key"]
    alert = Alert.objects.get()
    assert alert.severity == "critical"  # PagerDuty "error" pages like a critical
    assert alert.message == "[FIRING:1] InstanceDown (node1:9100 page) (Alertmanager)"
    assert alert.dedup_count == 1
    assert post(alertmanager_body(integration.routing_key, "resolved")).status_code == 202
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED


def uptime_kuma_body(routing_key: str, event_action: str, title: str, msg: str) -> dict:
    """server/notification-providers/pagerduty.js: `client`/`client_url` go on axios' options,
    not in the body, so the body is just this."""
    return {
        "payload": {
            "summary": f"[{title}] [My Website] {msg}",
            "severity": "warning",
            "source": "https://example.com",
        },
        "routing_key": routing_key,
        "event_action": event_action,
        "dedup_key": "Uptime Kuma/1",
    }


def test_uptime_kumas_pagerduty_notification_triggers_and_auto_resolves(integration):
    down = uptime_kuma_body(
        integration.routing_key, "trigger", "Uptime Kuma Monitor 🔴 Down", "timeout of 48000ms"
    )
    response = post(down)
    assert response.status_code == 202
    assert response.json()["dedup_key"] == "Uptime Kuma/1"
    alert = Alert.objects.get()
    assert alert.severity == "warning"
    assert "🔴 Down" in alert.message
    up = uptime_kuma_body(
        integration.routing_key, "resolve", "Uptime Kuma Monitor ✅ Up", "200 - OK"
    )
    assert post(up).status_code == 202
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED


def test_a_triggered_alert_reaches_a_webhook_once_through_the_dispatcher(
    operator, make_contact, receiver, dispatch
):
    from modules.sos.models import Group

    make_contact("Pager", webhook=receiver.url(), groups=["hooks"])
    hooks = integrations.integration_create(
        name="Hooks", groups=[Group.objects.get(name="hooks")], created_by=operator
    )
    for _ in range(3):  # one alert, absorbed twice
        assert post(event(PD_TRIGGER, hooks)).status_code == 202
    dispatch()
    (request,) = receiver.requests
    sent = json.loads(request.body)
    assert "Example alert on host1.example.com" in json.dumps(sent)
    assert Delivery.objects.get().state == Delivery.State.SENT


@pytest.mark.django_db(transaction=True)
def test_racing_triggers_of_one_key_open_one_alert(operator, make_contact):
    import threading

    from django.db import connection

    from modules.sos.models import Group

    make_contact("Ann", email="ann@example.com", groups=["race"])
    racing = integrations.integration_create(
        name="Race", groups=[Group.objects.get(name="race")], created_by=operator
    )
    count = 6
    start = threading.Barrier(count)
    codes: list[int] = []

    def run() -> None:
        try:
            start.wait()
            codes.append(post(event(PD_TRIGGER, racing)).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert codes == [202] * count
    alert = Alert.objects.get()
    assert alert.dedup_count == count - 1
    assert alert.deliveries.count() == 1


def test_refused_events_are_throttled_per_address(integration, settings):
    settings.SOS_EVENTS_RATE = "3/min"
    guesses = [event(PD_TRIGGER, integration, routing_key=f"{i:032d}") for i in range(4)]
    codes = [post(guess, REMOTE_ADDR="192.0.2.7").status_code for guess in guesses]
    assert codes == [400, 400, 400, 429]
    assert post(event(PD_TRIGGER, integration), REMOTE_ADDR="192.0.2.7").status_code == 429
    assert post(event(PD_TRIGGER, integration), REMOTE_ADDR="192.0.2.8").status_code == 202
