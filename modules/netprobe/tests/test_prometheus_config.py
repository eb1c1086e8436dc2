"""blackbox_exporter modules files read into NetProbe probes: what maps, and what is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modules.netprobe.prometheus.config import (
    ConfigError,
    available_modules,
    parse_duration,
    parse_modules,
    read_modules,
)

ROOT = Path(__file__).resolve().parents[3]

# The modules of blackbox_exporter's blackbox.yml and example.yml that Portal can run, as written
# there (http_2xx_example without the fields NetProbe cannot honour: headers, body regexps on
# headers, http_headers).
BLACKBOX_YML = """
modules:
  http_2xx:
    prober: http
    http:
      preferred_ip_protocol: "ip4"
  tcp_connect:
    prober: tcp
  icmp:
    prober: icmp
  http_2xx_example:
    prober: http
    timeout: 5s
    http:
      valid_http_versions: ["HTTP/1.1", "HTTP/2.0"]
      valid_status_codes: []  # Defaults to 2xx
      method: GET
      follow_redirects: true
      fail_if_ssl: false
      fail_if_not_ssl: false
      fail_if_body_matches_regexp:
        - "Could not connect to database"
      fail_if_body_not_matches_regexp:
        - "Download the latest version here"
      tls_config:
        insecure_skip_verify: false
      preferred_ip_protocol: "ip4" # defaults to "ip6"
      ip_protocol_fallback: false  # no fallback to "ip6"
  tls_connect:
    prober: tcp
    timeout: 5s
    tcp:
      tls: true
  dns_udp_example:
    prober: dns
    timeout: 5s
    dns:
      query_name: "www.prometheus.io"
      query_type: "A"
      valid_rcodes:
      - NOERROR
  dns_soa:
    prober: dns
    dns:
      query_name: "prometheus.io"
      query_type: "SOA"
  dns_tcp_example:
    prober: dns
    dns:
      transport_protocol: "tcp" # defaults to "udp"
      preferred_ip_protocol: "ip4" # defaults to "ip6"
      query_name: "www.prometheus.io"
"""


@pytest.fixture
def blackbox_yml(tmp_path: Path) -> Path:
    path = tmp_path / "blackbox.yml"
    path.write_text(BLACKBOX_YML)
    return path


def test_reads_blackbox_modules_into_netprobe_probes(blackbox_yml):
    modules = read_modules(str(blackbox_yml))

    example = modules["http_2xx_example"]
    assert (example.prober, example.kind, example.timeout_s) == ("http", "http", 5.0)
    assert example.options["expect_status"] == ["2xx"]
    assert example.options["method"] == "GET"
    assert example.options["ip_version"] == 4  # no fallback: the family is pinned
    assert example.options["regex"] == "Download the latest version here"
    assert example.checks.valid_http_versions == ("HTTP/1.1", "HTTP/2.0")
    assert example.checks.fail_if_body_matches == ("Could not connect to database",)
    assert "ip_version" not in modules["http_2xx"].options  # a preference with fallback
    assert (modules["tcp_connect"].kind, modules["tcp_connect"].options) == ("tcp", {"count": 1})
    assert modules["icmp"].kind == "ping"
    assert modules["tls_connect"].kind == "tls"
    dns = modules["dns_udp_example"]
    assert (dns.kind, dns.query_name, dns.options["record_type"]) == (
        "dns",
        "www.prometheus.io",
        "A",
    )
    assert modules["dns_tcp_example"].options["transport"] == "tcp"


def test_a_dns_module_asks_the_target_server_for_its_query_name(blackbox_yml):
    dns = read_modules(str(blackbox_yml))["dns_udp_example"]

    target, options = dns.probe("192.0.2.53:5353", 2.0)

    assert target == "www.prometheus.io"
    assert options["resolver"] == "192.0.2.53:5353"
    assert options["timeout"] == 2.0


def test_the_built_in_dns_module_asks_the_system_resolver_for_the_target():
    dns = available_modules()["dns"]

    target, options = dns.probe("example.com", 1.0)

    assert (dns.kind, target) == ("dns", "example.com")
    assert "resolver" not in options


def test_an_http_target_without_a_scheme_is_plain_http_as_in_blackbox():
    http = available_modules()["http_2xx"]

    assert http.probe("example.com/health", 1.0)[0] == "http://example.com/health"
    assert http.probe("HTTPS://example.com", 1.0)[0] == "HTTPS://example.com"


def test_reads_json_files_too(tmp_path):
    path = tmp_path / "modules.json"
    path.write_text(
        json.dumps({"modules": {"head": {"prober": "http", "http": {"method": "HEAD"}}}})
    )

    assert read_modules(str(path))["head"].options["method"] == "HEAD"


def test_built_in_modules_are_blackbox_defaults_and_a_file_overrides_them(tmp_path):
    path = tmp_path / "blackbox.yml"
    path.write_text("modules:\n  tcp_connect:\n    prober: tcp\n    timeout: 2s\n")

    assert set(available_modules()) >= {"http_2xx", "tcp_connect", "icmp", "dns"}
    assert available_modules()["tcp_connect"].timeout_s is None
    assert available_modules(str(path))["tcp_connect"].timeout_s == 2.0


@pytest.mark.parametrize(
    ("module", "path"),
    [
        ({"prober": "http", "http": {"headers": {"Host": "x"}}}, "modules.m.http.headers"),
        ({"prober": "http", "http": {"method": "POST"}}, "modules.m.http.method"),
        ({"prober": "tcp", "tcp": {"query_response": [{"expect": "^SSH"}]}}, "tcp.query_response"),
        ({"prober": "grpc"}, "modules.m.prober"),
        ({"prober": "icmp", "icmp": {"ttl": 5}}, "modules.m.icmp.ttl"),
        ({"prober": "dns", "dns": {"query_class": "CH"}}, "modules.m.dns.query_class"),
        ({"prober": "dns", "dns": {"valid_rcodes": ["NOPE"]}}, "modules.m.dns.valid_rcodes"),
        ({"prober": "http", "timeout": "soon"}, "modules.m.timeout"),
        ({"prober": "http", "htpp": {}}, "modules.m.htpp"),
    ],
)
def test_refuses_what_netprobe_cannot_honour_naming_the_field(module, path):
    with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
        parse_modules({"modules": {"m": module}})


def test_refuses_options_netprobe_itself_refuses():
    with pytest.raises(ConfigError, match="record_type"):
        parse_modules({"modules": {"m": {"prober": "dns", "dns": {"query_type": "ANY"}}}})


def test_refuses_a_file_that_is_not_a_modules_file(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("scrape_configs: []\n")

    with pytest.raises(ConfigError, match="modules"):
        read_modules(str(path))
    with pytest.raises(ConfigError, match="cannot read"):
        read_modules(str(tmp_path / "missing.yml"))


@pytest.mark.parametrize(
    ("text", "seconds"), [("5s", 5.0), ("1m30s", 90.0), ("500ms", 0.5), ("1.5s", 1.5)]
)
def test_reads_go_durations(text, seconds):
    assert parse_duration(text, "timeout") == seconds


def test_a_bad_modules_file_stops_start_up_naming_the_variable_and_the_field(tmp_path):
    path = tmp_path / "blackbox.yml"
    path.write_text("modules:\n  m:\n    prober: http\n    http:\n      headers: {Host: x}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_"))}
    env.update(DJANGO_SETTINGS_MODULE="portal.settings", DEBUG="1")

    def start(modules: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "import django; django.setup()"],
            cwd=ROOT,
            env={**env, "NETPROBE_PROMETHEUS_MODULES": modules},
            capture_output=True,
            text=True,
            timeout=60,
        )

    bad = start(str(path))
    path.write_text(BLACKBOX_YML)
    good = start(str(path))

    assert bad.returncode != 0
    assert "NETPROBE_PROMETHEUS_MODULES: modules.m.http.headers" in bad.stderr
    assert good.returncode == 0, good.stderr
