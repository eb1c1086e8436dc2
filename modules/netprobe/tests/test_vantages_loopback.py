"""A hub (this test process, 127.0.0.1) and three vantage processes on 127.0.0.2, .3 and .4,
each gunicorn with its own environment and secret and no database: probes from several
places, and every way a vantage can fail — stopped, slow, a wrong secret, a clock two minutes
off, a replayed request."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from modules.netprobe.models import ProbeResult, Vantage
from modules.netprobe.vantages.signing import signed_headers

from .servers import LoopbackHTTPServer
from .vantages import SlowRelay, VantageProcess, new_secret, start_vantages

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("np_settings")]

PROBES = "/api/netprobe/probes/"
BATCHES = "/api/netprobe/batches/"


@pytest.fixture(scope="module")
def vantage_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[VantageProcess]]:
    """v2, v3 and v4 on 127.0.0.2, .3 and .4."""
    with start_vantages(tmp_path_factory.mktemp("vantages")) as fleet:
        yield fleet


@pytest.fixture(scope="module")
def target() -> Iterator[LoopbackHTTPServer]:
    with LoopbackHTTPServer() as server:
        yield server


def register(api, fleet: list[VantageProcess]) -> None:
    for v in fleet:
        payload = {"name": v.name, "region": f"test-{v.name}", "url": v.url, "secret": v.secret}
        response = api.post("/api/netprobe/vantages/", payload, format="json")
        assert response.status_code == 201, response.json()


def measure(api, target: str, locations: list[str], **options) -> tuple[dict, float]:
    payload = {"kind": "http", "target": target, "locations": locations, **options}
    started = time.perf_counter()
    response = api.post(PROBES, payload, format="json")
    elapsed = time.perf_counter() - started
    assert response.status_code == 201, response.json()
    return response.json(), elapsed


def by_location(body: dict) -> dict[str, dict]:
    return {entry["location"]: entry for entry in body["results"]}


def raw_post(v: VantageProcess, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{v.url}/vantage/v1/probe",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def probe_body(target: str) -> bytes:
    payload = {"request_id": new_secret()[:32], "kind": "http", "target": target, "options": {}}
    return json.dumps(payload).encode()


def test_it_probes_from_the_hub_and_three_vantages_at_once(operator_api, vantage_fleet, target):
    register(operator_api, vantage_fleet)

    body, elapsed = measure(operator_api, f"{target.url}/delay/800", ["all"], timeout=5)

    entries = by_location(body)
    assert list(entries) == ["local", "v2", "v3", "v4"]
    for name, entry in entries.items():
        assert (entry["status"], entry["reason"]) == ("ok", ""), name
        result = entry["result"]
        assert (result["kind"], result["status"], result["result"]["status_code"]) == (
            "http",
            "ok",
            200,
        )
        assert result["result"]["timings"]["total_ms"] >= 800
    assert entries["local"]["latency_ms"] is None
    assert all(entries[n]["latency_ms"] >= 800 for n in ("v2", "v3", "v4"))
    assert elapsed < 2.6, f"four locations of 0.8 s each took {elapsed:.2f} s: not at once"
    rows = ProbeResult.objects.filter(measurement=body["measurement"])
    assert sorted(rows.values_list("location", flat=True)) == ["local", "v2", "v3", "v4"]
    assert {entry["result"]["id"] for entry in entries.values()} == {r.pk for r in rows}


def test_one_vantage_stopped_one_slow_and_one_with_a_wrong_secret_leave_the_others_answering(
    operator_api, vantage_fleet, target, settings
):
    settings.NETPROBE_VANTAGE_MARGIN_S = 0.5
    register(operator_api, vantage_fleet)
    stopped, slow, wrong = vantage_fleet
    with SlowRelay(slow.url, delay_s=6.0) as relay:
        Vantage.objects.filter(name=slow.name).update(url=relay.url)
        Vantage.objects.filter(name=wrong.name).update(secret=new_secret())
        stopped.stop()
        try:
            body, elapsed = measure(
                operator_api,
                f"{target.url}/",
                ["local", stopped.name, slow.name, wrong.name],
                timeout=1,
            )
        finally:
            stopped.start()  # the module's other tests find all three up

    entries = by_location(body)
    assert entries["local"]["status"] == "ok"
    assert entries["local"]["result"]["status"] == "ok"
    for name in (stopped.name, slow.name, wrong.name):
        assert entries[name]["status"] == "vantage_unavailable", entries[name]
        assert entries[name]["result"] is None
    assert "refused" in entries[stopped.name]["reason"].lower()
    assert entries[slow.name]["reason"] == "timed out after 1.5 s"
    assert "401 signature_invalid" in entries[wrong.name]["reason"]
    # The slow vantage is given up at its deadline (1.5 s), not waited for (6 s).
    assert 1.4 < elapsed < 4.0
    rows = ProbeResult.objects.filter(measurement=body["measurement"])
    assert list(rows.values_list("location", flat=True)) == ["local"]


def test_a_slow_target_is_the_targets_timeout_not_an_unavailable_vantage(
    operator_api, vantage_fleet, target
):
    register(operator_api, vantage_fleet[1:])
    names = [v.name for v in vantage_fleet[1:]]

    body, elapsed = measure(operator_api, f"{target.url}/delay/3000", names, timeout=0.5)

    for entry in body["results"]:
        assert entry["status"] == "ok"
        assert (entry["result"]["status"], entry["result"]["error"]["code"]) == (
            "timeout",
            "timeout",
        )
    assert elapsed < 2.8  # the target answers after 3 s


def test_a_request_signed_two_minutes_ago_is_refused(vantage_fleet, target):
    v = vantage_fleet[2]
    body = probe_body(f"{target.url}/")
    headers = signed_headers(
        v.secret, method="POST", path="/vantage/v1/probe", body=body, now=time.time() - 120
    )

    status, answer = raw_post(v, body, headers)

    assert status == 401
    assert answer["error"]["code"] == "signature_invalid"
    assert "120 s off" in answer["error"]["message"] or "s off" in answer["error"]["message"]


def test_a_replayed_request_is_refused(vantage_fleet, target):
    v = vantage_fleet[2]
    body = probe_body(f"{target.url}/")
    headers = signed_headers(v.secret, method="POST", path="/vantage/v1/probe", body=body)

    first = raw_post(v, body, headers)
    second = raw_post(v, body, headers)

    assert first[0] == 200
    assert first[1]["result"]["status"] == "ok"
    assert second[0] == 401
    assert second[1]["error"]["code"] == "signature_invalid"
    assert "replay" in second[1]["error"]["message"]


def test_checking_a_vantage_stores_its_latency_or_why_it_failed(operator_api, vantage_fleet):
    register(operator_api, vantage_fleet[2:])
    v = vantage_fleet[2]
    pk = Vantage.objects.get(name=v.name).pk

    good = operator_api.post(f"/api/netprobe/vantages/{pk}/check/").json()
    Vantage.objects.filter(pk=pk).update(secret=new_secret())
    bad = operator_api.post(f"/api/netprobe/vantages/{pk}/check/").json()

    assert (good["last_check_ok"], good["last_check_error"]) == (True, "")
    assert 0 < good["last_check_latency_ms"] < 2000
    assert bad["last_check_ok"] is False
    assert "401 signature_invalid" in bad["last_check_error"]


def test_a_batch_runs_every_item_at_every_location(operator_api, vantage_fleet, target):
    register(operator_api, vantage_fleet[2:])
    items = [{"kind": "http", "target": f"{target.url}/delay/500"} for _ in range(3)]

    started = time.perf_counter()
    response = operator_api.post(
        BATCHES, {"items": items, "locations": ["local", vantage_fleet[2].name]}, format="json"
    )
    elapsed = time.perf_counter() - started

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["count"] == 3
    assert len({m["measurement"] for m in body["results"]}) == 3
    for measurement in body["results"]:
        assert [e["location"] for e in measurement["results"]] == ["local", "v4"]
        assert {e["result"]["status"] for e in measurement["results"]} == {"ok"}
    assert elapsed < 2.4  # six probes of 0.5 s, at once


def redis_url() -> str | None:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return None
    return "redis://127.0.0.1:6379/3"  # keys are per request: no two test runs share one


def test_vantage_workers_sharing_a_redis_cache_refuse_a_replay_sent_to_another_worker(
    tmp_path, target
):
    url = redis_url()
    if url is None:
        pytest.skip("no Redis on 127.0.0.1:6379")
    env = {"CACHE_URL": url}
    with start_vantages(tmp_path, ["127.0.0.2"], env=env, workers=2) as (v,):
        body = probe_body(f"{target.url}/")
        headers = signed_headers(v.secret, method="POST", path="/vantage/v1/probe", body=body)
        statuses = [raw_post(v, body, headers)[0] for _ in range(8)]

    assert statuses == [200] + [401] * 7
