"""Pausing and resuming a monitor: services and API actions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from modules.netprobe import services
from modules.netprobe.models import Monitor

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("np_settings")]


def monitor(**fields) -> Monitor:
    values = {"name": "shop", "kind": "tcp", "target": "127.0.0.1:9", "interval_s": 60}
    return services.monitor_create(**{**values, **fields})


def test_a_paused_monitor_does_not_run_and_a_resumed_one_runs_at_once():
    m = monitor()
    later = timezone.now() + timedelta(hours=1)

    services.monitor_pause(monitor=m)
    while_paused = services.monitor_run_due(now=later)
    services.monitor_resume(monitor=m, now=later)
    resumed = services.monitor_run_due(now=later)

    assert while_paused.due == 0
    assert resumed.ran == 1
    m.refresh_from_db()
    assert (m.enabled, m.state) == (True, "unknown")
    transitions = [(t.from_state, t.to_state, t.reason) for t in m.transitions.order_by("at")]
    assert transitions == [("unknown", "paused", "paused"), ("paused", "unknown", "resumed")]


def test_an_edit_switching_enabled_pauses_and_resumes_as_the_actions_do():
    m = monitor()
    later = timezone.now() + timedelta(hours=1)

    services.monitor_update(monitor=m, enabled=False, name="shop (off)")
    paused = Monitor.objects.get(pk=m.pk)
    services.monitor_update(monitor=m, enabled=True, now=later)

    assert (paused.enabled, paused.state, paused.next_run_at) == (False, "paused", None)
    assert paused.name == "shop (off)"
    m.refresh_from_db()
    assert (m.enabled, m.state, m.next_run_at) == (True, "unknown", later)
    transitions = [(t.from_state, t.to_state, t.reason) for t in m.transitions.order_by("at")]
    assert transitions == [("unknown", "paused", "paused"), ("paused", "unknown", "resumed")]


def test_an_edit_changing_the_probe_and_pausing_records_only_the_pause():
    m = monitor()
    Monitor.objects.filter(pk=m.pk).update(state="up")
    m.refresh_from_db()

    services.monitor_update(monitor=m, target="127.0.0.1:10", enabled=False)

    m.refresh_from_db()
    assert (m.target, m.state, m.enabled) == ("127.0.0.1:10", "paused", False)
    assert [(t.from_state, t.to_state, t.reason) for t in m.transitions.all()] == [
        ("up", "paused", "paused")
    ]


def test_pausing_twice_records_one_transition():
    m = monitor()

    services.monitor_pause(monitor=m)
    services.monitor_pause(monitor=m)

    m.refresh_from_db()
    assert (m.enabled, m.state, m.next_run_at) == (False, "paused", None)
    assert m.transitions.count() == 1


def test_operators_pause_and_resume_through_the_api(operator_api):
    m = monitor()

    paused = operator_api.post(f"/api/netprobe/monitors/{m.pk}/pause/")
    resumed = operator_api.post(f"/api/netprobe/monitors/{m.pk}/resume/")

    assert paused.status_code == 200, paused.content
    assert (paused.json()["enabled"], paused.json()["state"]) == (False, "paused")
    assert resumed.status_code == 200
    assert (resumed.json()["enabled"], resumed.json()["state"]) == (True, "unknown")
    assert resumed.json()["next_run_at"] is not None


def test_viewers_cannot_pause(viewer_api):
    m = monitor()

    response = viewer_api.post(f"/api/netprobe/monitors/{m.pk}/pause/")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    m.refresh_from_db()
    assert m.enabled


def test_pausing_an_unknown_monitor_is_404(operator_api):
    response = operator_api.post("/api/netprobe/monitors/999999/pause/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
