"""Non-HTTP invocations through Zappa's handler: the SOS dispatcher woken as a Zappa async task
(the payload Zappa sends to Lambda's Invoke API, delivered back as Lambda delivers it), and the
EventBridge schedules from zappa_settings.json."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from zappa.core import Zappa

from modules.sos.tests.peers import WebhookReceiver
from tests.deploy import events
from tests.deploy.aws import LambdaInvokeRecorder
from tests.deploy.conftest import PortalLambda
from tests.deploy.lambda_build import stage_settings

pytestmark = [pytest.mark.nodb, pytest.mark.slow]


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    """A TCP port on loopback that accepts connections (the kernel completes them)."""
    sock = socket.create_server(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture(scope="module")
def webhooks() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


def rule_name(function: str, stage: str = "dev") -> str:
    """The EventBridge rule `zappa schedule` creates for one of the settings' events."""
    settings = stage_settings(stage)
    event = next(e for e in settings["events"] if e["function"] == function)
    zappa = Zappa(load_credentials=False, aws_region=settings["aws_region"], runtime="python3.12")
    return zappa.get_scheduled_event_name(event, function, f"portal-{stage}")


def api(portal: PortalLambda, method: str, path: str, data: Any = None) -> Any:
    response = portal.call(
        "rest",
        method,
        path,
        headers={"Authorization": f"Token {portal.token()}", "Content-Type": "application/json"},
        body=None if data is None else json.dumps(data),
    )
    assert response.status < 300, response
    return response.json()


def raise_alert(portal: PortalLambda, webhooks: WebhookReceiver, path: str) -> dict:
    name = f"on-call {uuid.uuid4().hex[:8]}"
    api(
        portal,
        "POST",
        "/api/sos/contacts/",
        {"name": name, "new_methods": [{"kind": "webhook", "address": webhooks.url(path)}]},
    )
    return api(
        portal,
        "POST",
        "/api/sos/alerts/",
        {"message": f"Lambda drill {path}", "contacts": [name], "channels": ["webhook"]},
    )


def delivery_states(portal: PortalLambda, alert_id: int) -> list[str]:
    alert = api(portal, "GET", f"/api/sos/alerts/{alert_id}/")
    return [delivery["state"] for delivery in alert["deliveries"]]


def test_an_alert_wakes_the_dispatcher_as_a_zappa_async_task(
    portal_lambda: PortalLambda, lambda_invokes: LambdaInvokeRecorder, webhooks: WebhookReceiver
) -> None:
    lambda_invokes.take()
    alert = raise_alert(portal_lambda, webhooks, "/async")
    invocations = lambda_invokes.take()
    assert [(i.function_name, i.invocation_type) for i in invocations] == [("portal-dev", "Event")]
    assert invocations[0].payload == {
        "task_path": "modules.sos.outbox.tasks.dispatch",
        "capture_response": False,
        "response_id": None,
        "args": [],
        "kwargs": {},
        "command": "zappa.asynchronous.route_lambda_task",
    }
    # Nothing is sent until Lambda runs the task.
    assert webhooks.to("/async") == []
    assert set(delivery_states(portal_lambda, alert["id"])) == {"pending"}

    report = portal_lambda.container.invoke(invocations[0].payload)

    assert report["sent"] == 1, report
    [received] = webhooks.to("/async")
    assert "Lambda drill /async" in received.body.decode()
    assert delivery_states(portal_lambda, alert["id"]) == ["sent"]


def test_the_scheduled_sweep_delivers_what_a_lost_wake_up_left(
    portal_lambda: PortalLambda, lambda_invokes: LambdaInvokeRecorder, webhooks: WebhookReceiver
) -> None:
    alert = raise_alert(portal_lambda, webhooks, "/lost")
    assert lambda_invokes.take()  # the wake-up went out, and is never delivered
    name = rule_name("portal.lambda_tasks.sos_sweep")

    result = portal_lambda.container.invoke(events.scheduled_event(name))

    assert result["command"] == "sos_sweep"
    assert len(webhooks.to("/lost")) == 1
    assert delivery_states(portal_lambda, alert["id"]) == ["sent"]


def test_the_scheduled_event_runs_the_due_monitors(
    portal_lambda: PortalLambda, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    monitor = api(
        portal_lambda,
        "POST",
        "/api/netprobe/monitors/",
        {"name": f"lambda {uuid.uuid4().hex[:6]}", "kind": "tcp", "target": f"127.0.0.1:{port}"},
    )
    assert monitor["last_run_at"] is None
    name = rule_name("portal.lambda_tasks.run_monitors")

    result = portal_lambda.container.invoke(events.scheduled_event(name))

    assert result["command"] == "netprobe_run_monitors"
    assert "NetProbe monitors" in result["output"]
    after = api(portal_lambda, "GET", f"/api/netprobe/monitors/{monitor['id']}/")
    assert after["last_run_at"] is not None
    assert after["state"] == "up"
    assert after["last_result"]["status"] == "ok"
    assert after["last_result"]["error"] is None


def test_the_daily_event_prunes_old_results(portal_lambda: PortalLambda) -> None:
    name = rule_name("portal.lambda_tasks.prune")

    result = portal_lambda.container.invoke(events.scheduled_event(name))

    commands = [r["command"] for r in result["results"]]
    assert commands == ["netprobe_prune", "faces_prune", "sos_prune"]
    assert all("skipped" not in r for r in result["results"])


def test_the_schedules_name_functions_zappa_can_import(portal_lambda: PortalLambda) -> None:
    for event in stage_settings("dev")["events"]:
        # The handler takes the function from the rule name's last dash-separated part.
        name = rule_name(event["function"])
        assert name.split("-")[-1] == event["function"]
        assert len(name) <= 64
    for event in stage_settings("production")["events"]:
        assert len(rule_name(event["function"], "production")) <= 64
