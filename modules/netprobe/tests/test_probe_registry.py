from __future__ import annotations

import json

import pytest

from modules.netprobe.probes import (
    KINDS,
    Limits,
    ProbeOptionsError,
    ProbeResult,
    get_kind,
    parse_options,
    run_probe,
    validate,
)
from modules.netprobe.probes.tcp import TcpOptions
from portal.egress import EgressPolicy


def test_registers_every_kind_lazily():
    assert set(KINDS) == {"dns", "tcp", "http", "tls", "ping", "traceroute"}
    for name in KINDS:
        kind = get_kind(name)
        assert kind.name == name
        assert kind.options.from_mapping({}, Limits()) is not None


def test_rejects_an_unknown_kind():
    with pytest.raises(ProbeOptionsError) as caught:
        run_probe("mtr", "example.com", policy=EgressPolicy())
    assert "kind" in caught.value.errors


@pytest.mark.parametrize("target", ["", "   ", "x" * 2049])
def test_rejects_an_empty_or_huge_target(target):
    with pytest.raises(ProbeOptionsError) as caught:
        run_probe("tcp", target, {"port": 80}, policy=EgressPolicy())
    assert "target" in caught.value.errors


def test_lists_every_field_error_at_once():
    with pytest.raises(ProbeOptionsError) as caught:
        validate("tcp", "", {"count": 99, "interval": "soon", "colour": "red"}, Limits())
    assert set(caught.value.errors) == {"target", "count", "interval", "colour"}
    assert caught.value.code == "invalid_options"


def test_accepts_cli_strings_and_option_dataclasses(tcp_listener, policy):
    parsed = parse_options("tcp", {"count": "2", "interval": "0.05", "ip_version": "4"}, Limits())
    assert parsed == TcpOptions(count=2, interval=0.05, ip_version=4)

    result = run_probe("tcp", tcp_listener.target, parsed, policy=policy)
    assert result.result["sent"] == 2


def test_bounds_options_by_the_limits():
    limits = Limits(max_count=3, max_timeout_s=1.0)
    with pytest.raises(ProbeOptionsError) as caught:
        validate("tcp", "example.com:80", {"count": 4, "timeout": 2}, limits)
    assert caught.value.errors == {
        "count": "must be between 1 and 3",
        "timeout": "must be between 0.01 and 1",
    }


def test_serializes_a_result_to_json(tcp_listener, policy):
    result = run_probe("tcp", tcp_listener.target, {"count": 1}, policy=policy)
    data = json.loads(json.dumps(result.to_dict()))

    assert isinstance(result, ProbeResult)
    assert set(data) == {
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
    assert data["started_at"].endswith("+00:00")
    assert data["resolved"] == {"addresses": ["127.0.0.1"], "used": "127.0.0.1"}
