from __future__ import annotations

import json
import time

import pytest

from modules.netprobe.probes import ProbeOptionsError, run_probe
from portal.egress import EgressForbidden, EgressPolicy

from .servers import LoopbackDNSServer


def query(server: LoopbackDNSServer, policy, target: str, record_type: str, **options):
    return run_probe(
        "dns",
        target,
        {"record_type": record_type, "resolver": server.address, **options},
        policy=policy,
    )


@pytest.mark.parametrize(
    ("target", "record_type", "values"),
    [
        ("www.netprobe.test", "A", ["127.0.0.1"]),
        ("www.netprobe.test", "AAAA", ["::1"]),
        ("alias.netprobe.test", "CNAME", ["www.netprobe.test."]),
        ("netprobe.test", "MX", ["10 mail.netprobe.test."]),
        ("netprobe.test", "NS", ["ns1.netprobe.test."]),
        ("netprobe.test", "TXT", ["hello world", "v=spf1 -all"]),
        (
            "netprobe.test",
            "SOA",
            ["ns1.netprobe.test. hostmaster.netprobe.test. 2024010101 3600 600 86400 300"],
        ),
        ("_sip._tcp.netprobe.test", "SRV", ["10 60 5060 sip.netprobe.test."]),
        ("netprobe.test", "CAA", ['0 issue "letsencrypt.org"']),
        ("127.0.0.1", "PTR", ["www.netprobe.test."]),
        ("::1", "PTR", ["www.netprobe.test."]),
        ("1.0.0.127.in-addr.arpa", "PTR", ["www.netprobe.test."]),
    ],
)
def test_answers_every_record_type(dns_server, policy, target, record_type, values):
    result = query(dns_server, policy, target, record_type)

    assert result.status == "ok", result.error
    assert result.result["rcode"] == "NOERROR"
    answers = result.result["answers"]
    assert sorted(a["value"] for a in answers) == values
    assert all(a["type"] == record_type and a["ttl"] > 0 for a in answers)
    assert all(a["name"].endswith(".") for a in answers)


def test_reports_the_resolver_flags_and_timing(dns_server, policy):
    result = query(dns_server, policy, "www.netprobe.test", "A")

    assert result.kind == "dns"
    assert result.result["resolver"] == dns_server.address
    assert result.result["resolver_source"] == "given"
    assert result.result["transport"] == "udp"
    assert result.result["query_time_ms"] >= 0
    assert {"QR", "AA", "RD"} <= set(result.result["flags"])
    assert result.result["authoritative"] is True
    assert result.result["ad"] is False
    assert result.resolved.used == "127.0.0.1"
    assert result.ip_version == 4
    assert result.result["answers"][0] == {
        "name": "www.netprobe.test.",
        "type": "A",
        "ttl": 300,
        "value": "127.0.0.1",
    }
    json.dumps(result.to_dict())


def test_reads_the_dnssec_authenticated_data_flag(dns_server, policy):
    result = query(dns_server, policy, "secure.netprobe.test", "A", dnssec=True)

    assert result.result["ad"] is True
    assert "AD" in result.result["flags"]


def test_follows_a_cname_for_an_address_query(dns_server, policy):
    result = query(dns_server, policy, "alias.netprobe.test", "A")

    types = [(a["type"], a["value"]) for a in result.result["answers"]]
    assert types == [("CNAME", "www.netprobe.test."), ("A", "127.0.0.1")]


def test_fails_with_dns_on_nxdomain(dns_server, policy):
    result = query(dns_server, policy, "missing.netprobe.test", "A")

    assert result.status == "failed"
    assert result.error.code == "dns"
    assert "NXDOMAIN" in result.error.message
    assert result.result["rcode"] == "NXDOMAIN"
    assert result.result["answers"] == []
    assert result.result["authority"][0]["type"] == "SOA"


def test_is_ok_with_no_answer_for_an_existing_name(dns_server, policy):
    result = query(dns_server, policy, "www.netprobe.test", "MX")

    assert result.status == "ok"
    assert result.result["answers"] == []


def test_fails_when_the_resolver_refuses(dns_server, policy):
    result = query(dns_server, policy, "example.com", "A")

    assert result.status == "failed"
    assert result.error.code == "dns"
    assert result.result["rcode"] == "REFUSED"


def test_queries_over_tcp_when_asked(dns_server, policy):
    result = query(dns_server, policy, "netprobe.test", "NS", transport="tcp")

    assert result.result["transport"] == "tcp"
    assert ("tcp", "netprobe.test.", "NS") in dns_server.zone.queries


def test_falls_back_to_tcp_for_a_truncated_udp_answer(dns_server, policy):
    result = query(dns_server, policy, "big.netprobe.test", "TXT")

    assert result.status == "ok"
    assert result.result["transport"] == "tcp"
    assert len(result.result["answers"]) == 12


def test_the_tcp_fallback_gets_only_what_is_left_of_the_timeout(dns_server, policy):
    # UDP answers "truncated" after 0.35 s, TCP after another 0.35 s: 0.7 s in all.
    started = time.monotonic()
    result = query(dns_server, policy, "slowbig.netprobe.test", "TXT", timeout=0.6)
    elapsed = time.monotonic() - started

    assert ("tcp", "slowbig.netprobe.test.", "TXT") in dns_server.zone.queries
    assert result.status == "timeout"
    assert result.error.code == "timeout"
    assert elapsed < 0.6 + 0.3, f"took {elapsed:.2f} s with a 0.6 s timeout"


def test_times_out_when_the_resolver_does_not_answer(dns_server, policy):
    result = query(dns_server, policy, "slow.netprobe.test", "A", timeout=0.3)

    assert result.status == "timeout"
    assert result.error.code == "timeout"
    assert result.duration_ms < 1500


def test_refuses_a_resolver_outside_the_egress_policy(dns_server):
    with pytest.raises(EgressForbidden):
        run_probe("dns", "example.com", {"resolver": "10.0.0.1"}, policy=EgressPolicy())
    with pytest.raises(EgressForbidden):
        run_probe("dns", "example.com", {"resolver": dns_server.address}, policy=EgressPolicy())


@pytest.mark.parametrize(
    ("target", "options", "field"),
    [
        ("example.com", {"record_type": "ANY"}, "record_type"),
        ("example.com", {"resolver": "dns.google"}, "resolver"),
        ("example.com", {"resolver": "8.8.8.8:70000"}, "resolver"),
        ("example.com", {"transport": "quic"}, "transport"),
        ("not a name", {}, "target"),
        ("127.0.0.1", {"record_type": "A"}, "target"),
        ("example.com", {"class": "CH"}, "class"),
    ],
)
def test_rejects_invalid_options(target, options, field):
    with pytest.raises(ProbeOptionsError) as caught:
        run_probe("dns", target, options, policy=EgressPolicy())
    assert field in caught.value.errors


def test_accepts_an_ipv6_resolver_with_a_port(policy):
    with LoopbackDNSServer("::1") as server:
        result = query(server, policy, "www.netprobe.test", "AAAA")

    assert result.status == "ok"
    assert result.result["resolver"] == server.address
    assert result.ip_version == 6
