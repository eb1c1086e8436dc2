"""`/probe` and `/metrics` as Prometheus reads them, against loopback servers.

The output is parsed with prometheus_client's own parser and every family is compared with
blackbox_exporter's declaration of it (BLACKBOX below), so a scrape config, dashboard or alert
written for blackbox_exporter reads Portal's answers unchanged.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token

from modules.netprobe.monitor_runs import monitor_run_due
from modules.netprobe.monitoring import monitor_create, monitor_pause
from modules.netprobe.prometheus.config import available_modules
from portal.test import PASSWORD, make_user

from .support import ICMP

pytestmark = pytest.mark.usefixtures("np_settings")

# blackbox_exporter's metrics: (type, help) exactly as declared in its source (commit e39d7d4):
# prober/handler.go, utils.go, prober.go, http.go, icmp.go, dns.go, query_response.go.
BLACKBOX = {
    "probe_success": ("gauge", "Displays whether or not the probe was a success"),
    "probe_duration_seconds": ("gauge", "Returns how long the probe took to complete in seconds"),
    "probe_timeout_seconds": ("gauge", "Returns how long the probe timeout is in seconds"),
    "probe_dns_lookup_time_seconds": (
        "gauge",
        "Returns the time taken for probe dns lookup in seconds",
    ),
    "probe_ip_protocol": ("gauge", "Specifies whether probe ip protocol is IP4 or IP6"),
    "probe_ip_addr_hash": (
        "gauge",
        "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
    ),
    "probe_http_duration_seconds": (
        "gauge",
        "Duration of http request by phase, summed over all redirects",
    ),
    "probe_http_content_length": ("gauge", "Length of http content response"),
    "probe_http_uncompressed_body_length": ("gauge", "Length of uncompressed response body"),
    "probe_http_redirects": ("gauge", "The number of redirects"),
    "probe_http_ssl": ("gauge", "Indicates if SSL was used for the final redirect"),
    "probe_http_status_code": ("gauge", "Response HTTP status code"),
    "probe_http_version": ("gauge", "Returns the version of HTTP of the probe response"),
    "probe_http_last_modified_timestamp_seconds": (
        "gauge",
        "Returns the Last-Modified HTTP response header in unixtime",
    ),
    "probe_failed_due_to_regex": ("gauge", "Indicates if probe failed due to regex"),
    "probe_ssl_earliest_cert_expiry": ("gauge", "Returns last SSL chain expiry in unixtime"),
    "probe_ssl_last_chain_expiry_timestamp_seconds": (
        "gauge",
        "Returns last SSL chain expiry in timestamp",
    ),
    "probe_ssl_last_chain_info": ("gauge", "Contains SSL leaf certificate information"),
    "probe_tls_version_info": ("gauge", "Returns the TLS version used or NaN when unknown"),
    "probe_tls_cipher_info": ("gauge", "Returns the TLS cipher negotiated during handshake"),
    "probe_icmp_duration_seconds": ("gauge", "Duration of icmp request by phase"),
    "probe_dns_duration_seconds": ("gauge", "Duration of DNS request by phase"),
    "probe_dns_answer_rrs": (
        "gauge",
        "Returns number of entries in the answer resource record list",
    ),
    "probe_dns_authority_rrs": (
        "gauge",
        "Returns number of entries in the authority resource record list",
    ),
    "probe_dns_query_succeeded": (
        "gauge",
        "Displays whether or not the query was executed successfully",
    ),
    "probe_dns_serial": ("gauge", "Returns the serial number of the zone"),
}
HTTP_NAMES = {
    "probe_success",
    "probe_duration_seconds",
    "probe_timeout_seconds",
    "probe_dns_lookup_time_seconds",
    "probe_ip_protocol",
    "probe_ip_addr_hash",
    "probe_http_duration_seconds",
    "probe_http_content_length",
    "probe_http_uncompressed_body_length",
    "probe_http_redirects",
    "probe_http_ssl",
    "probe_http_status_code",
    "probe_http_version",
    "probe_failed_due_to_regex",
}
TLS_NAMES = {
    "probe_ssl_earliest_cert_expiry",
    "probe_ssl_last_chain_expiry_timestamp_seconds",
    "probe_ssl_last_chain_info",
    "probe_tls_version_info",
}
MODULES_YML = """
modules:
  https_only:
    prober: http
    http:
      fail_if_not_ssl: true
  no_errors_in_body:
    prober: http
    http:
      fail_if_body_matches_regexp: ["hello"]
  status_500:
    prober: http
    http:
      valid_status_codes: [500]
  tls_connect:
    prober: tcp
    tcp:
      tls: true
  dns_www:
    prober: dns
    dns:
      query_name: www.netprobe.test
      query_type: A
  dns_soa:
    prober: dns
    dns:
      query_name: netprobe.test
      query_type: SOA
  dns_missing_is_fine:
    prober: dns
    dns:
      query_name: missing.netprobe.test
      valid_rcodes: [NXDOMAIN]
"""


@pytest.fixture
def token(operator) -> str:
    """An operator's: /probe runs probes, which takes an operator everywhere in Portal."""
    return Token.objects.create(user=operator).key


@pytest.fixture
def scrape(client, token):
    """GET with the Bearer token Prometheus's `authorization:` sends."""

    def get(path: str, **params: str):
        return client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {token}")

    return get


@pytest.fixture
def modules_file(settings, tmp_path: Path) -> Path:
    path = tmp_path / "blackbox.yml"
    path.write_text(MODULES_YML)
    settings.NETPROBE_PROMETHEUS_MODULES = str(path)
    available_modules.cache_clear()
    return path


def families(response) -> dict:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(response.content.decode())}


def value(parsed: dict, name: str, **labels: str) -> float:
    samples = [
        s for s in parsed[name].samples if all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(samples) == 1, (name, labels, parsed[name].samples)
    return samples[0].value


def assert_blackbox_names_and_types(parsed: dict) -> None:
    for name, family in parsed.items():
        assert name in BLACKBOX, f"{name} is not one of blackbox_exporter's metrics"
        assert (family.type, family.documentation) == BLACKBOX[name], name


def fnv1a_32(data: bytes) -> int:
    value = 2166136261
    for byte in data:
        value = ((value ^ byte) * 16777619) % 2**32
    return value


def test_http_2xx_answers_blackbox_metrics_for_a_loopback_server(scrape, http_server):
    parsed = families(scrape("/probe", target=f"{http_server.url}/", module="http_2xx"))

    assert_blackbox_names_and_types(parsed)
    assert set(parsed) >= HTTP_NAMES
    assert value(parsed, "probe_success") == 1
    assert value(parsed, "probe_http_status_code") == 200
    assert value(parsed, "probe_http_ssl") == 0
    assert value(parsed, "probe_http_version") == 1.1
    assert value(parsed, "probe_http_redirects") == 0
    assert value(parsed, "probe_http_content_length") == len(b"hello from netprobe")
    assert value(parsed, "probe_ip_protocol") == 4
    assert value(parsed, "probe_ip_addr_hash") == fnv1a_32(bytes([127, 0, 0, 1]))
    phases = {s.labels["phase"] for s in parsed["probe_http_duration_seconds"].samples}
    assert phases == {"resolve", "connect", "tls", "processing", "transfer"}
    assert value(parsed, "probe_http_duration_seconds", phase="tls") == 0
    assert value(parsed, "probe_http_duration_seconds", phase="processing") > 0
    assert 0 < value(parsed, "probe_duration_seconds") < 5
    assert TLS_NAMES.isdisjoint(parsed)


def test_https_reports_the_certificate_chain_and_tls_version(scrape, https_server, pki):
    parsed = families(scrape("/probe", target=f"{https_server.url}/", module="http_2xx"))

    assert_blackbox_names_and_types(parsed)
    assert set(parsed) >= HTTP_NAMES | TLS_NAMES
    assert value(parsed, "probe_success") == 1
    assert value(parsed, "probe_http_ssl") == 1
    presented = (pki.valid.cert, pki.intermediate)
    earliest = min(c.not_valid_after_utc.timestamp() for c in presented)
    assert value(parsed, "probe_ssl_earliest_cert_expiry") == earliest
    assert value(parsed, "probe_ssl_last_chain_expiry_timestamp_seconds") == earliest
    assert value(parsed, "probe_tls_version_info", version="TLS 1.3") == 1
    (info,) = parsed["probe_ssl_last_chain_info"].samples
    leaf = pki.valid.cert
    der = leaf.public_bytes(Encoding.DER)
    assert info.labels["fingerprint_sha256"] == hashlib.sha256(der).hexdigest()
    serial = leaf.serial_number.to_bytes((leaf.serial_number.bit_length() + 7) // 8, "big")
    assert info.labels["serialnumber"] == serial.hex()  # Go's "%x" of the bytes
    assert "CN=localhost" in info.labels["subject"]
    assert "localhost" in info.labels["subjectalternative"].split(",")
    assert value(parsed, "probe_http_duration_seconds", phase="tls") > 0


def test_a_failing_target_is_probe_success_0_not_a_failed_scrape(scrape, http_server, closed_port):
    parsed = families(scrape("/probe", target=f"{http_server.url}/status/500", module="http_2xx"))
    assert value(parsed, "probe_success") == 0
    assert value(parsed, "probe_http_status_code") == 500

    parsed = families(scrape("/probe", target=f"http://{closed_port.target}/"))
    assert value(parsed, "probe_success") == 0
    assert value(parsed, "probe_http_status_code") == 0
    assert_blackbox_names_and_types(parsed)


def test_a_target_the_egress_policy_refuses_is_probe_success_0(scrape, settings, http_server):
    settings.EGRESS_ALLOWED_NETWORKS = []

    parsed = families(scrape("/probe", target=f"{http_server.url}/", module="http_2xx"))
    debug = scrape("/probe", target=f"{http_server.url}/", module="http_2xx", debug="true")

    assert value(parsed, "probe_success") == 0
    assert set(parsed) == {"probe_success", "probe_duration_seconds", "probe_timeout_seconds"}
    assert "egress policy" in debug.content.decode()


def test_a_malformed_target_is_probe_success_0(scrape):
    parsed = families(scrape("/probe", target="no-port-here", module="tcp_connect"))

    assert value(parsed, "probe_success") == 0


def test_module_checks_blackbox_makes_that_netprobe_leaves_to_the_exporter(
    scrape, modules_file, http_server, https_server
):
    plain = families(scrape("/probe", target=f"{http_server.url}/", module="https_only"))
    secure = families(scrape("/probe", target=f"{https_server.url}/", module="https_only"))
    refused = families(scrape("/probe", target=f"{http_server.url}/", module="no_errors_in_body"))
    expected = families(
        scrape("/probe", target=f"{http_server.url}/status/500", module="status_500")
    )

    assert (value(plain, "probe_success"), value(secure, "probe_success")) == (0, 1)
    assert value(refused, "probe_success") == 0
    assert value(refused, "probe_failed_due_to_regex") == 1
    assert value(expected, "probe_success") == 1


def test_tcp_connect_and_tcp_with_tls(
    scrape, modules_file, tcp_listener, closed_port, https_server
):
    up = families(scrape("/probe", target=tcp_listener.target, module="tcp_connect"))
    down = families(scrape("/probe", target=closed_port.target, module="tcp_connect"))
    tls = families(scrape("/probe", target=f"127.0.0.1:{https_server.port}", module="tls_connect"))

    assert (value(up, "probe_success"), value(down, "probe_success")) == (1, 0)
    assert value(up, "probe_ip_protocol") == 4
    assert value(tls, "probe_success") == 1
    assert set(tls) >= TLS_NAMES
    for parsed in (up, down, tls):
        assert_blackbox_names_and_types(parsed)


def test_dns_modules_ask_the_target_server(scrape, modules_file, dns_server):
    www = families(scrape("/probe", target=dns_server.address, module="dns_www"))
    soa = families(scrape("/probe", target=dns_server.address, module="dns_soa"))
    missing = families(scrape("/probe", target=dns_server.address, module="dns_missing_is_fine"))

    assert value(www, "probe_success") == 1
    assert value(www, "probe_dns_query_succeeded") == 1
    assert value(www, "probe_dns_answer_rrs") == 1
    assert value(www, "probe_dns_duration_seconds", phase="request") > 0
    assert value(soa, "probe_dns_serial") == 2024010101
    assert value(missing, "probe_success") == 1
    assert value(missing, "probe_dns_answer_rrs") == 0
    for parsed in (www, soa, missing):
        assert_blackbox_names_and_types(parsed)


def test_icmp_answers_whether_or_not_the_runtime_permits_icmp(scrape):
    parsed = families(scrape("/probe", target="127.0.0.1", module="icmp"))

    assert_blackbox_names_and_types(parsed)
    assert value(parsed, "probe_success") == (1 if ICMP else 0)
    if ICMP:
        assert value(parsed, "probe_icmp_duration_seconds", phase="rtt") > 0


def test_unknown_module_and_missing_target_are_400_as_in_blackbox(scrape, http_server):
    unknown = scrape("/probe", target=http_server.url, module="nope")
    missing = scrape("/probe", module="http_2xx")

    assert (unknown.status_code, unknown.content) == (400, b'Unknown module "nope"\n')
    assert (missing.status_code, missing.content) == (400, b"Target parameter is missing\n")


def test_the_probe_timeout_follows_the_prometheus_scrape_timeout(client, token, http_server):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    params = {"target": http_server.url, "module": "http_2xx"}

    default = families(client.get("/probe", params, **auth))
    scraped = families(
        client.get("/probe", params, HTTP_X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS="3", **auth)
    )
    bad = client.get("/probe", params, HTTP_X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS="soon", **auth)

    assert value(default, "probe_timeout_seconds") == 10  # NETPROBE_MAX_TIMEOUT_S
    assert value(scraped, "probe_timeout_seconds") == 2.5  # less blackbox's 0.5 s offset
    assert bad.status_code == 400


def test_debug_shows_the_log_the_metrics_and_the_module(scrape, http_server):
    response = scrape("/probe", target=f"{http_server.url}/status/404", debug="true")

    text = response.content.decode()
    assert response.status_code == 200
    assert text.startswith("Logs for the probe:\n")
    assert "Probe failed" in text
    assert "Metrics that would have been returned:\nprobe_success 0.0" in text.replace(
        "# HELP probe_success Displays whether or not the probe was a success\n"
        "# TYPE probe_success gauge\n",
        "",
    )
    assert "Module configuration:" in text


def test_answers_openmetrics_when_the_scraper_asks_for_it(client, token, http_server):
    response = client.get(
        "/probe",
        {"target": http_server.url},
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT="application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    )

    assert response["Content-Type"].startswith("application/openmetrics-text")
    parsed = {f.name: f for f in openmetrics_families(response.content.decode())}
    assert parsed["probe_success"].samples[0].value == 1


# --- authentication -------------------------------------------------------------------------


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_refuses_a_scrape_without_credentials_with_401_and_a_challenge(client, db, http_server):
    for path in ("/probe", "/metrics"):
        response = client.get(path, {"target": http_server.url})

        assert response.status_code == 401
        assert "Basic" in response["WWW-Authenticate"]
        assert "Bearer" in response["WWW-Authenticate"]


def test_accepts_a_token_as_token_or_bearer_and_a_password_as_basic_auth(
    client, operator, token, http_server
):
    params = {"target": http_server.url}
    for authorization in (f"Token {token}", f"Bearer {token}", basic("olivia", PASSWORD)):
        response = client.get("/probe", params, HTTP_AUTHORIZATION=authorization)
        assert response.status_code == 200, authorization


def test_refuses_wrong_credentials_and_users_without_a_role(client, db, http_server):
    make_user("nora", role=None)
    params = {"target": http_server.url}

    wrong = client.get("/probe", params, HTTP_AUTHORIZATION=basic("nora", "wrong"))
    bad_token = client.get("/probe", params, HTTP_AUTHORIZATION="Bearer nope")
    no_role = client.get("/probe", params, HTTP_AUTHORIZATION=basic("nora", PASSWORD))

    assert (wrong.status_code, bad_token.status_code, no_role.status_code) == (401, 401, 403)


def test_a_viewer_reads_metrics_but_only_an_operator_runs_probes(client, viewer, http_server):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {Token.objects.create(user=viewer).key}"}

    metrics = client.get("/metrics", **auth)
    probe = client.get("/probe", {"target": http_server.url}, **auth)

    assert metrics.status_code == 200
    assert (probe.status_code, probe.content) == (
        403,
        b"Only operators can do this; viewers have read access.\n",
    )


def test_a_logged_in_browser_reads_metrics_but_its_cookie_runs_no_probe(
    client, operator, http_server
):
    client.force_login(operator)

    probe = client.get("/probe", {"target": http_server.url})

    assert client.get("/metrics").status_code == 200
    assert probe.status_code == 401


def test_probes_are_rate_limited_per_user_with_retry_after(scrape, settings, http_server):
    settings.NETPROBE_PROBE_RATE = "2/min"

    answers = [scrape("/probe", target=http_server.url) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert 1 <= int(answers[2]["Retry-After"]) <= 60
    assert scrape("/metrics").status_code == 200  # reading is not a probe


def test_metrics_and_probe_answer_plain_http_when_https_redirects_are_on(
    settings, client, token, http_server
):
    from django.test import Client

    settings.SECURE_SSL_REDIRECT = True
    plain = Client()  # a fresh handler: SecurityMiddleware reads its settings when built

    assert plain.get("/metrics").status_code == 401  # the ServiceMonitor's plain-HTTP scrape
    assert plain.get("/probe", {"target": http_server.url}).status_code == 401
    assert plain.get("/netprobe/").status_code == 301  # the rest still goes to HTTPS


# --- /metrics -------------------------------------------------------------------------------


def test_metrics_has_every_monitors_last_result_with_monitor_and_location_labels(
    scrape, operator, http_server, closed_port
):
    web = monitor_create(
        user=operator, name="web", kind="http", target=f"{http_server.url}/", failure_threshold=1
    )
    db_port = monitor_create(
        user=operator, name="db port", kind="tcp", target=closed_port.target, failure_threshold=1
    )
    paused = monitor_create(user=operator, name="old", kind="tcp", target=closed_port.target)
    monitor_pause(monitor=paused)
    monitor_run_due()

    parsed = families(scrape("/metrics"))

    web_labels = {"monitor": "web", "monitor_id": str(web.pk), "location": "local"}
    db_labels = {"monitor": "db port", "monitor_id": str(db_port.pk), "location": "local"}
    assert value(parsed, "probe_success", **web_labels) == 1
    assert value(parsed, "probe_success", **db_labels) == 0
    assert value(parsed, "probe_http_status_code", **web_labels) == 200
    assert value(parsed, "probe_http_duration_seconds", phase="connect", **web_labels) > 0
    assert value(parsed, "netprobe_monitor_up", **web_labels) == 1
    assert value(parsed, "netprobe_monitor_up", **db_labels) == 0
    assert value(parsed, "netprobe_monitor_state", state="paused", monitor="old") == 1
    assert not [s for s in parsed["probe_success"].samples if s.labels["monitor"] == "old"]
    for name, family in parsed.items():
        if name.startswith("probe_"):
            assert (family.type, family.documentation) == BLACKBOX[name], name
        else:
            assert name.startswith("netprobe_monitor_"), name
            assert family.type == "gauge", name


def test_metrics_has_the_certificate_expiry_of_an_https_monitor(
    scrape, operator, https_server, pki
):
    secure = monitor_create(user=operator, name="secure", kind="http", target=https_server.url)
    monitor_run_due()

    parsed = families(scrape("/metrics"))

    labels = {"monitor": "secure", "monitor_id": str(secure.pk), "location": "local"}
    earliest = min(c.not_valid_after_utc.timestamp() for c in (pki.valid.cert, pki.intermediate))
    assert value(parsed, "probe_ssl_earliest_cert_expiry", **labels) == earliest
    assert value(parsed, "probe_tls_version_info", version="TLS 1.3", **labels) == 1
    assert value(parsed, "probe_http_ssl", **labels) == 1


def test_metrics_takes_the_same_queries_for_two_monitors_as_for_six(scrape, operator, tcp_listener):
    def queries() -> int:
        monitor_run_due()
        with CaptureQueriesContext(connection) as captured:
            families(scrape("/metrics"))
        return len(captured)

    for n in range(2):
        monitor_create(user=operator, name=f"m{n}", kind="tcp", target=tcp_listener.target)
    two = queries()
    for n in range(2, 6):
        monitor_create(user=operator, name=f"m{n}", kind="tcp", target=tcp_listener.target)
    six = queries()

    assert two == six


def test_probe_and_metrics_are_not_mounted_without_netprobe(client, viewer, token):
    import importlib

    from django.test import override_settings
    from django.urls import clear_url_caches

    import portal.urls

    def remount() -> None:
        importlib.reload(portal.urls)
        clear_url_caches()

    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    try:
        with override_settings(PORTAL_MODULES=["sos"]):
            remount()
            assert client.get("/probe", {"target": "example.com"}, **auth).status_code == 404
            assert client.get("/metrics", **auth).status_code == 404
    finally:
        remount()
    assert client.get("/metrics", **auth).status_code == 200
