"""The time a measurement or a monitor run may take: every call's budget starts when the call
does, never passes what is left of NETPROBE_MAX_DURATION_S (API Gateway cuts at 29 s), and the
vantage is told its own deadline. Peers: a fake vantage on loopback that is slow on purpose,
the loopback HTTP server, the vantage endpoint itself."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from modules.netprobe import services
from modules.netprobe.models import Monitor, ProbeResult, Vantage
from modules.netprobe.runner import probe_validate
from modules.netprobe.vantages.fanout import run_pairs
from modules.netprobe.vantages.signing import signed_headers

from .fakevantage import FakeVantage

pytestmark = [pytest.mark.usefixtures("np_settings"), pytest.mark.django_db]


@pytest.fixture
def fake() -> Iterator[FakeVantage]:
    with FakeVantage() as server:
        Vantage.objects.create(name="fake", region="x", url=server.url, secret=server.secret)
        yield server


def test_calls_queued_behind_a_full_pool_run_late_instead_of_timing_out(settings, fake):
    settings.NETPROBE_BATCH_WORKERS = 2
    settings.NETPROBE_VANTAGE_MARGIN_S = 0.5
    fake.delay_s = 0.8  # four waves of two: the last starts 2.4 s in, past 1 s + margin + 1
    spec = probe_validate(kind="http", target="http://127.0.0.1:9/", options={"timeout": 1})

    outcomes = run_pairs([(spec, "fake")] * 8)

    assert [o.status for o in outcomes] == ["ok"] * 8, [o.reason for o in outcomes]
    assert len(fake.requests) == 8


def test_a_vantage_is_waited_for_no_longer_than_what_is_left_of_the_time_budget(settings, fake):
    settings.NETPROBE_MAX_DURATION_S = 3.0
    settings.NETPROBE_MAX_TIMEOUT_S = 3.0
    settings.NETPROBE_VANTAGE_MARGIN_S = 3.0  # the probe's 3 s + 3 s would pass the budget
    fake.delay_s = 10
    spec = probe_validate(kind="http", target="http://127.0.0.1:9/", options={"timeout": 3})

    t0 = time.monotonic()
    (outcome,) = run_pairs([(spec, "fake")])
    elapsed = time.monotonic() - t0

    assert elapsed < 3.5
    assert outcome.status == "vantage_unavailable"
    assert "timed out" in outcome.reason
    # ... and the vantage was told to answer before that, the round trip left over.
    assert 0 < fake.requests[0]["deadline_s"] < 3.0


def test_a_vantage_answers_a_timeout_result_once_the_hubs_deadline_has_passed(
    settings, http_server
):
    secret = "current-vantage-secret-0123456789abcdef"
    settings.NETPROBE_ROLE = "vantage"
    settings.NETPROBE_VANTAGE_SECRETS = [secret]
    settings.ROOT_URLCONF = "modules.netprobe.vantages.urls"
    cache.clear()
    payload = {
        "request_id": "r-deadline",
        "kind": "http",
        "target": f"{http_server.url}/delay/3000",
        "options": {"timeout": 5},
        "deadline_s": 0.5,
    }
    body = json.dumps(payload).encode()
    signed = signed_headers(secret, method="POST", path="/vantage/v1/probe", body=body)
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in signed.items()}

    t0 = time.monotonic()
    response = Client().post("/vantage/v1/probe", body, content_type="application/json", **meta)

    assert time.monotonic() - t0 < 2
    assert response.status_code == 200
    result = response.json()["result"]
    assert (result["status"], result["error"]["code"]) == ("timeout", "timeout")
    assert "deadline" in result["error"]["message"]


def multi(name: str, target: str, **fields: Any) -> Monitor:
    values = {"kind": "http", "target": target, "options": {"timeout": 3}, "interval_s": 60}
    return services.monitor_create(name=name, **{**values, **fields})


def test_hub_only_monitors_run_alongside_a_slow_vantage_round(fake, http_server):
    fake.delay_s = 1.5
    now = timezone.now()
    multi("everywhere", f"{http_server.url}/", locations=["local", "fake"], now=now)
    here = multi("here", f"{http_server.url}/", now=now)

    t0 = timezone.now()
    summary = services.monitor_run_due(now=now)

    assert (summary.ran, summary.errors) == (2, 0)
    row = ProbeResult.objects.get(monitor=here)
    assert row.started_at - t0 < timedelta(seconds=1)  # not after the slow vantage's 1.5 s


def test_a_run_claims_no_more_calls_than_the_pool_has_workers(settings, fake, http_server):
    settings.NETPROBE_BATCH_WORKERS = 4
    now = timezone.now()
    for name in ("a", "b", "c"):  # two calls each: local and the fake vantage
        multi(name, f"{http_server.url}/", locations=["local", "fake"], now=now)

    first = services.monitor_run_due(now=now)
    second = services.monitor_run_due(now=now)

    assert (first.claimed, first.ran) == (2, 2)
    assert (second.claimed, second.ran) == (1, 1)
    assert len(fake.requests) == 3
