"""The NetProbe API contract: probes, history, batches and monitors, against loopback servers."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import override_settings

from modules.netprobe.models import Monitor, ProbeResult

from .servers import TcpListener
from .support import ICMP, RAW_ICMP, UNPRIVILEGED_ICMP, make_result

pytestmark = pytest.mark.usefixtures("np_settings")

PROBES = "/api/netprobe/probes/"
BATCHES = "/api/netprobe/batches/"
MONITORS = "/api/netprobe/monitors/"
RESULT_FIELDS = {
    "id",
    "kind",
    "target",
    "status",
    "error",
    "started_at",
    "duration_ms",
    "resolved",
    "ip_version",
    "result",
}


def run(api, **payload):
    return api.post(PROBES, payload, format="json")


def test_runs_an_http_probe_and_answers_201_with_the_result(operator_api, operator, http_server):
    response = run(operator_api, kind="http", target=f"{http_server.url}/")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body.keys() >= RESULT_FIELDS
    assert (body["kind"], body["status"], body["error"], body["ip_version"]) == (
        "http",
        "ok",
        None,
        4,
    )
    assert body["resolved"] == {"addresses": ["127.0.0.1"], "used": "127.0.0.1"}
    result = body["result"]
    assert result["status_code"] == 200
    assert result["http_version"] == "HTTP/1.1"
    assert result["body_excerpt"] == "hello from netprobe"
    timings = result["timings"]
    for phase in ("dns_ms", "connect_ms", "ttfb_ms", "download_ms", "total_ms"):
        assert timings[phase] is not None, phase
        assert timings[phase] >= 0, phase
    assert timings["tls_ms"] is None
    phases = sum(timings[p] for p in ("dns_ms", "connect_ms", "ttfb_ms", "download_ms"))
    assert phases <= timings["total_ms"] + 1
    row = ProbeResult.objects.get(pk=body["id"])
    assert row.created_by == operator
    assert row.response_ms == timings["total_ms"]


def test_measures_the_phases_of_an_https_probe(operator_api, https_server):
    body = run(operator_api, kind="http", target=f"{https_server.url}/delay/120").json()

    assert body["status"] == "ok", body["error"]
    timings = body["result"]["timings"]
    assert timings["tls_ms"] > 0
    assert timings["ttfb_ms"] >= 110  # the server waits 120 ms before answering
    assert body["result"]["tls"]["version"].startswith("TLS")


def test_runs_a_dns_probe(operator_api, dns_server):
    body = run(
        operator_api,
        kind="dns",
        target="www.netprobe.test",
        record_type="A",
        resolver=dns_server.address,
        transport="tcp",
    ).json()

    assert body["status"] == "ok", body["error"]
    result = body["result"]
    assert (result["rcode"], result["transport"]) == ("NOERROR", "tcp")
    assert [(a["name"], a["type"], a["ttl"], a["value"]) for a in result["answers"]] == [
        ("www.netprobe.test.", "A", 300, "127.0.0.1")
    ]
    assert result["query_time_ms"] >= 0
    assert result["ad"] is False


def test_runs_a_tcp_ping_with_statistics(operator_api, tcp_listener):
    body = run(operator_api, kind="tcp", target=tcp_listener.target, count=3, interval=0.05).json()

    assert body["status"] == "ok"
    result = body["result"]
    assert (result["sent"], result["received"], result["loss_percent"]) == (3, 3, 0.0)
    assert result["rtt_min_ms"] <= result["rtt_avg_ms"] <= result["rtt_max_ms"]
    assert len(result["attempts"]) == 3


def test_reports_a_closed_port_as_a_connect_failure(operator_api, closed_port):
    body = run(operator_api, kind="tcp", target=closed_port.target, count=1).json()

    assert body["status"] == "failed"
    assert body["error"] == {"code": "connect", "message": "connection refused"}
    assert body["result"]["loss_percent"] == 100.0


def test_reads_the_certificate_of_a_tls_port(operator_api, https_server, https_expired):
    good = run(operator_api, kind="tls", target=f"127.0.0.1:{https_server.port}").json()
    expired = run(operator_api, kind="tls", target=f"127.0.0.1:{https_expired.port}").json()

    assert good["status"] == "ok", good["error"]
    cert = good["result"]["certificate"]
    assert cert["subject_cn"] == "localhost"
    assert "127.0.0.1" in cert["sans"]
    assert 80 <= cert["days_left"] <= 90
    assert good["result"]["verified"] is True
    assert len(good["result"]["chain"]) == 2
    assert expired["status"] == "failed"
    assert expired["error"]["code"] == "tls"
    assert expired["result"]["certificate"]["expired"] is True


def test_reads_a_certificate_after_starttls(operator_api, smtp_server):
    body = run(operator_api, kind="tls", target=f"127.0.0.1:{smtp_server.port}", starttls="smtp")
    body = body.json()

    assert body["status"] == "ok", body["error"]
    assert body["result"]["starttls"] == "smtp"
    assert body["result"]["certificate"]["subject_cn"] == "localhost"


@pytest.mark.skipif(not ICMP, reason="no ICMP socket permitted here")
def test_pings_loopback(operator_api):
    body = run(operator_api, kind="ping", target="127.0.0.1", count=2, interval=0.05).json()

    assert body["status"] == "ok", body["error"]
    assert body["result"]["received"] == 2


@pytest.mark.skipif(UNPRIVILEGED_ICMP, reason="this kernel permits unprivileged ICMP sockets")
def test_ping_without_icmp_is_unsupported_and_suggests_a_tcp_ping(operator_api, settings):
    settings.NETPROBE_ICMP_PRIVILEGE = "unprivileged"  # as on Lambda: no raw sockets

    body = run(operator_api, kind="ping", target="127.0.0.1", count=1).json()

    assert body["status"] == "failed"
    assert body["error"]["code"] == "unsupported"
    assert "tcp ping" in body["error"]["message"]
    assert body["result"] == {"suggestion": "tcp"}


def test_traceroute_without_raw_sockets_is_unsupported(operator_api, settings):
    settings.NETPROBE_ICMP_PRIVILEGE = "unprivileged"

    body = run(operator_api, kind="traceroute", target="127.0.0.1").json()

    assert body["error"]["code"] == "unsupported"
    assert body["result"] == {"suggestion": "tcp"}


@pytest.mark.skipif(not RAW_ICMP, reason="traceroute needs raw ICMP sockets")
def test_traces_the_route_to_loopback(operator_api):
    body = run(operator_api, kind="traceroute", target="127.0.0.1", reverse_dns=False).json()

    assert body["status"] == "ok", body["error"]
    assert body["result"]["reached"] is True
    assert body["result"]["hops"][-1]["address"] == "127.0.0.1"


def test_follows_redirects_and_stops_at_the_limit(operator_api, http_server):
    followed = run(operator_api, kind="http", target=f"{http_server.url}/redirect/2").json()
    limited = run(
        operator_api, kind="http", target=f"{http_server.url}/redirect/4", max_redirects=2
    ).json()

    assert followed["status"] == "ok"
    assert [hop["status"] for hop in followed["result"]["chain"]] == [302, 302, 200]
    assert limited["status"] == "failed"
    assert limited["error"]["code"] == "http"
    assert "too many redirects" in limited["error"]["message"]


def test_refuses_a_redirect_to_the_metadata_address(operator_api, http_server):
    target = f"{http_server.url}/redirect-to?url=http://169.254.169.254/latest/meta-data/"
    body = run(operator_api, kind="http", target=target).json()

    assert body["status"] == "failed"
    assert body["error"]["code"] == "forbidden"
    assert [hop["status"] for hop in body["result"]["chain"]] == [302, None]


def test_checks_expectations_on_the_body(operator_api, http_server):
    target = f"{http_server.url}/text?body=all+systems+go"
    passed = run(operator_api, kind="http", target=target, keyword="systems", regex=r"go$").json()
    failed = run(operator_api, kind="http", target=target, keyword="outage").json()

    assert passed["result"]["expectations"] == {
        "status": "pass",
        "accepted_status": ["200-399"],
        "keyword": "pass",
        "regex": "pass",
        "checked_bytes": 14,
    }
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "http"


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"kind": "tcp", "target": "example.com:443", "count": 99}, {"count"}),
        ({"kind": "tcp", "target": "example.com:443", "colour": "red"}, {"colour"}),
        ({"kind": "http", "target": "ftp://example.com/"}, {"target"}),
        ({"kind": "http", "target": "https://example.com/", "timeout": 600}, {"timeout"}),
        ({"kind": "dns", "target": "example.com", "record_type": "XYZ"}, {"record_type"}),
        ({"kind": "teleport", "target": "example.com"}, {"kind"}),
        ({"target": "example.com"}, {"kind"}),
        ({"kind": "tcp"}, {"target"}),
        (
            {"kind": "tcp", "target": "example.com", "count": 0, "interval": "x"},
            {"count", "interval"},
        ),
    ],
)
def test_answers_400_with_field_details_for_invalid_input(operator_api, payload, fields):
    response = operator_api.post(PROBES, payload, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert set(error["details"]["fields"]) == fields
    assert not ProbeResult.objects.exists()


LOOPBACK_SPELLINGS = [
    "127.0.0.1:{port}",
    "2130706433:{port}",  # decimal
    "0x7f000001:{port}",  # hex
    "0177.0.0.1:{port}",  # octal
    "127.1:{port}",  # short
    "[::ffff:127.0.0.1]:{port}",  # IPv4-mapped IPv6
    "[::ffff:7f00:1]:{port}",
    "localhost:{port}",
]


@pytest.mark.parametrize("spelling", LOOPBACK_SPELLINGS)
@pytest.mark.parametrize("kind", ["tcp", "http", "tls"])
def test_refuses_every_spelling_of_a_forbidden_address_without_a_packet(
    operator_api, kind, spelling
):
    with TcpListener() as listener, override_settings(EGRESS_ALLOWED_NETWORKS=[]):
        target = spelling.format(port=listener.port)
        if kind == "http":
            target = f"http://{target}/"
        options = {"count": 1} if kind == "tcp" else {}
        response = run(operator_api, kind=kind, target=target, **options)
        time.sleep(0.05)  # a connection, had one been made, would have been accepted by now

        assert response.status_code == 400, response.json()
        assert response.json()["error"]["code"] == "target_forbidden"
        assert listener.accepted == 0
    assert not ProbeResult.objects.exists()


@pytest.mark.parametrize(
    ("kind", "target", "options"),
    [
        ("http", "http://169.254.169.254/latest/meta-data/", {}),
        ("http", "http://2852039166/", {}),  # 169.254.169.254 in decimal
        ("http", "http://[::ffff:169.254.169.254]/", {}),
        ("tcp", "169.254.170.2:80", {}),
        ("tcp", "[fd00:ec2::254]:80", {}),
        ("tcp", "10.1.2.3:22", {}),
        ("ping", "192.168.1.1", {}),
        ("traceroute", "100.64.0.1", {}),
        ("dns", "example.com", {"resolver": "10.0.0.53"}),
        ("dns", "example.com", {"resolver": "169.254.169.253"}),
    ],
)
def test_refuses_metadata_and_private_targets(operator_api, kind, target, options):
    response = run(operator_api, kind=kind, target=target, **options)

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "target_forbidden"
    assert error["details"]["host"]


def test_lists_history_with_filters(viewer_api):
    old = make_result(kind="http", target="https://a.example/", ago=timedelta(days=2))
    failed = make_result(kind="tcp", target="b.example:22", status="failed")
    dns = make_result(kind="dns", target="c.example")

    def ids(query: str) -> list[int]:
        response = viewer_api.get(f"{PROBES}?{query}")
        assert response.status_code == 200, response.json()
        return [r["id"] for r in response.json()["results"]]

    assert ids("") == [dns.pk, failed.pk, old.pk]
    assert ids("kind=tcp") == [failed.pk]
    assert ids("status=failed") == [failed.pk]
    assert ids("target=c.example") == [dns.pk]
    assert ids("search=example/") == [old.pk]
    since = (old.started_at + timedelta(hours=1)).isoformat()
    assert ids(f"since={since.replace('+', '%2B')}") == [dns.pk, failed.pk]
    assert ids(f"until={since.replace('+', '%2B')}") == [old.pk]
    body = viewer_api.get(f"{PROBES}?page_size=1").json()
    assert (body["count"], len(body["results"])) == (3, 1)
    bad = viewer_api.get(f"{PROBES}?since=yesterday&kind=teleport")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["details"]["fields"]) == {"since", "kind"}


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        (PROBES, "monitor=99999999999999999999999", "monitor"),
        (PROBES, "monitor=9223372036854775808", "monitor"),
        (PROBES, "monitor=1%00", "monitor"),
        (PROBES, "target=a%00b", "target"),
        (PROBES, "search=a%00b", "search"),
        (PROBES, "since=2024-13-01T00:00", "since"),
        (PROBES, "until=2024-02-30T00:00", "until"),
        (MONITORS, "state=up%00", "state"),
        (MONITORS, "kind=tcp%00", "kind"),
        (MONITORS, "state=sideways", "state"),
    ],
)
def test_bad_filters_answer_400_not_a_server_error(viewer_api, path, query, field):
    make_result()
    Monitor.objects.create(name="m", kind="tcp", target="example.com:443")

    response = viewer_api.get(f"{path}?{query}")

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["details"]["fields"]


def test_the_largest_ids_are_valid_filters_and_lookups(viewer_api):
    make_result()
    Monitor.objects.create(name="m", kind="tcp", target="example.com:443", state="up")
    largest, huge = 2**63 - 1, "99999999999999999999999"

    assert viewer_api.get(f"{PROBES}?monitor={largest}").json()["results"] == []
    listed = viewer_api.get(f"{MONITORS}?state=up&kind=tcp").json()["results"]
    assert [m["name"] for m in listed] == ["m"]
    assert viewer_api.get(f"{MONITORS}?state=&kind=").json()["count"] == 1
    for path in (PROBES, MONITORS):
        for pk in (largest, huge):
            response = viewer_api.get(f"{path}{pk}/")
            assert response.status_code == 404, (path, pk)
            assert response.json()["error"]["code"] == "not_found"
    assert viewer_api.get(f"{MONITORS}{huge}/history/").status_code == 404


def test_nul_characters_in_options_are_field_errors(operator_api, http_server):
    probe = run(operator_api, kind="http", target=f"{http_server.url}/", keyword="a\x00b")
    monitor = operator_api.post(
        MONITORS,
        {**monitor_payload(f"{http_server.url}/"), "kind": "http", "options": {"keyword": "\x00"}},
        format="json",
    )

    assert probe.status_code == 400
    assert "keyword" in probe.json()["error"]["details"]["fields"]
    assert monitor.status_code == 400
    assert "keyword" in monitor.json()["error"]["details"]["fields"]["options"]
    assert not ProbeResult.objects.exists()
    assert not Monitor.objects.exists()


def test_a_response_with_nul_bytes_is_stored(operator_api, http_server):
    # PostgreSQL refuses NUL in text and JSON: what a server sends must still be storable.
    response = run(operator_api, kind="http", target=f"{http_server.url}/text?body=a%00b")

    assert response.status_code == 201, response.content
    assert response.json()["result"]["body_excerpt"] == "a\ufffdb"
    assert ProbeResult.objects.get().result["body_excerpt"] == "a\ufffdb"


def test_shows_one_result_and_404s_in_the_envelope(viewer_api):
    row = make_result()

    assert viewer_api.get(f"{PROBES}{row.pk}/").json()["id"] == row.pk
    missing = viewer_api.get(f"{PROBES}{row.pk + 1}/")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_viewers_read_but_only_operators_run_probes(viewer_api, anon_api, tcp_listener):
    make_result()
    payload = {"kind": "tcp", "target": tcp_listener.target, "count": 1}

    assert viewer_api.get(PROBES).status_code == 200
    refused = viewer_api.post(PROBES, payload, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert viewer_api.post(BATCHES, {"items": [payload]}, format="json").status_code == 403
    assert anon_api.get(PROBES).status_code == 401
    assert anon_api.post(PROBES, payload, format="json").status_code == 401
    assert ProbeResult.objects.count() == 1


def test_a_batch_of_slow_targets_takes_about_as_long_as_the_slowest(operator_api, http_server):
    items = [{"kind": "http", "target": f"{http_server.url}/delay/300"} for _ in range(8)]

    started = time.perf_counter()
    response = operator_api.post(BATCHES, {"items": items}, format="json")
    elapsed = time.perf_counter() - started

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["count"] == 8
    assert [r["status"] for r in body["results"]] == ["ok"] * 8
    assert all(r["result"]["timings"]["ttfb_ms"] >= 290 for r in body["results"])
    # Relative to the work: run one after another they take the sum of their durations (which
    # a loaded machine stretches as much as the batch), concurrently about the slowest one.
    sequential = sum(r["duration_ms"] for r in body["results"]) / 1000
    assert elapsed < 0.6 * sequential, f"{elapsed:.2f} s for {sequential:.2f} s of probes"
    assert ProbeResult.objects.count() == 8


def test_a_batch_item_with_a_refused_target_gets_a_forbidden_result(operator_api, tcp_listener):
    items = [
        {"kind": "tcp", "target": tcp_listener.target, "count": 1},
        {"kind": "tcp", "target": "169.254.169.254:80", "count": 1},
    ]

    body = operator_api.post(BATCHES, {"items": items}, format="json").json()

    ok, refused = body["results"]
    assert ok["status"] == "ok"
    assert refused["status"] == "failed"
    assert refused["error"]["code"] == "forbidden"
    assert "169.254.169.254" in refused["error"]["message"]
    assert refused["id"] is not None


def test_an_invalid_batch_item_fails_the_batch_with_its_index(operator_api, tcp_listener):
    items = [
        {"kind": "tcp", "target": tcp_listener.target},
        {"kind": "tcp", "target": tcp_listener.target, "count": 500},
        "not an object",
    ]

    response = operator_api.post(BATCHES, {"items": items}, format="json")

    assert response.status_code == 400
    fields = response.json()["error"]["details"]["fields"]["items"]
    assert set(fields) == {"1", "2"}
    assert "count" in fields["1"]
    assert not ProbeResult.objects.exists()


@pytest.mark.parametrize("items", [[], "x", None])
def test_a_batch_needs_a_list_of_items(operator_api, items):
    response = operator_api.post(BATCHES, {"items": items}, format="json")

    assert response.status_code == 400
    assert "items" in response.json()["error"]["details"]["fields"]


def test_a_batch_is_bounded_by_the_setting(operator_api, settings):
    settings.NETPROBE_BATCH_MAX = 2
    items = [{"kind": "dns", "target": "example.com"}] * 3

    response = operator_api.post(BATCHES, {"items": items}, format="json")

    assert response.status_code == 400
    assert "At most 2" in response.json()["error"]["details"]["fields"]["items"][0]


def monitor_payload(target: str, /, **extra):
    payload = {
        "name": "Loopback TCP",
        "kind": "tcp",
        "target": target,
        "options": {"count": 1},
        "interval_s": 60,
        "failure_threshold": 2,
        "recovery_threshold": 1,
    }
    return {**payload, **extra}


def test_operators_create_change_and_delete_monitors(operator_api, tcp_listener):
    created = operator_api.post(MONITORS, monitor_payload(tcp_listener.target), format="json")

    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["state"], body["enabled"], body["sos_group"]) == ("unknown", True, None)
    assert body["next_run_at"] is not None
    url = f"{MONITORS}{body['id']}/"
    paused = operator_api.patch(url, {"enabled": False}, format="json").json()
    assert (paused["state"], paused["next_run_at"]) == ("paused", None)
    renamed = operator_api.patch(url, {"name": "Renamed"}, format="json").json()
    assert (renamed["name"], renamed["state"]) == ("Renamed", "paused")
    assert operator_api.delete(url).status_code == 204
    assert not Monitor.objects.exists()


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"interval_s": 10}, "interval_s"),
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"options": {"count": 99}}, "options"),
        ({"kind": "teleport"}, "kind"),
        ({"target": ""}, "target"),
    ],
)
def test_refuses_invalid_monitors_with_field_details(operator_api, extra, field):
    response = operator_api.post(
        MONITORS, monitor_payload("example.com:443", **extra), format="json"
    )

    assert response.status_code == 400
    assert field in response.json()["error"]["details"]["fields"]
    assert not Monitor.objects.exists()


def test_refuses_a_monitor_of_a_forbidden_numeric_target(operator_api):
    response = operator_api.post(MONITORS, monitor_payload("0x7f000001:80"), format="json")
    with override_settings(EGRESS_ALLOWED_NETWORKS=[]):
        refused = operator_api.post(MONITORS, monitor_payload("0x7f000001:80"), format="json")

    assert response.status_code == 201
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "target_forbidden"


def test_viewers_cannot_edit_monitors(viewer_api, operator):
    monitor = Monitor.objects.create(name="m", kind="tcp", target="example.com:443")
    url = f"{MONITORS}{monitor.pk}/"

    assert viewer_api.get(url).status_code == 200
    assert (
        viewer_api.post(MONITORS, monitor_payload("example.com:443"), format="json").status_code
        == 403
    )
    assert viewer_api.patch(url, {"name": "x"}, format="json").status_code == 403
    assert viewer_api.delete(url).status_code == 403
    monitor.refresh_from_db()
    assert monitor.name == "m"


def test_serves_a_monitors_history(viewer_api):
    monitor = Monitor.objects.create(name="m", kind="tcp", target="example.com:443", state="up")
    make_result(monitor=monitor)
    make_result(monitor=monitor, status="failed")

    body = viewer_api.get(f"{MONITORS}{monitor.pk}/history/").json()

    assert set(body["uptime"]) == {"24h", "7d", "30d"}
    assert body["uptime"]["24h"]["uptime_percent"] == 50.0
    assert body["uptime"]["24h"]["checks"] == 2
    assert body["series"]["window"] == "24h"
    assert [p["failures"] for p in body["series"]["points"]] == [0, 1]
    assert body["transitions"] == []
    assert viewer_api.get(f"{MONITORS}{monitor.pk}/history/?window=1y").status_code == 400


def test_the_schema_documents_the_netprobe_endpoints(operator_api):
    schema = operator_api.get("/api/schema/?format=json").json()

    paths = schema["paths"]
    for path in ("/api/netprobe/probes/", "/api/netprobe/batches/", "/api/netprobe/monitors/"):
        assert path in paths
    assert "/api/netprobe/monitors/{id}/history/" in paths
    request = paths["/api/netprobe/probes/"]["post"]["requestBody"]["content"]["application/json"]
    assert request["schema"]["$ref"].endswith("ProbeRequestRequest")
    assert "400" in paths["/api/netprobe/probes/"]["post"]["responses"]
