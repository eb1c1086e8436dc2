"""ping and traceroute. Which tests run depends on what this kernel permits:
raw ICMP sockets (root / CAP_NET_RAW) and unprivileged ones (net.ipv4.ping_group_range)."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from icmplib import ICMPv4Socket
from icmplib.exceptions import ICMPSocketError, SocketPermissionError

from modules.netprobe.probes import Limits, ProbeOptionsError, run_probe
from portal.egress import EgressForbidden, EgressPolicy


def _socket_works(privileged: bool) -> bool:
    try:
        ICMPv4Socket(privileged=privileged).close()
    except ICMPSocketError:
        return False
    return True


RAW = _socket_works(privileged=True)
UNPRIVILEGED = _socket_works(privileged=False)
needs_icmp = pytest.mark.skipif(not (RAW or UNPRIVILEGED), reason="no ICMP socket permitted here")
needs_raw = pytest.mark.skipif(not RAW, reason="raw ICMP sockets need root or CAP_NET_RAW")


@needs_icmp
def test_pings_loopback_with_statistics(policy):
    result = run_probe("ping", "127.0.0.1", {"count": 3, "interval": 0.05}, policy=policy)

    assert result.status == "ok", result.error
    stats = result.result
    assert stats["socket"] == ("unprivileged" if UNPRIVILEGED else "privileged")
    assert (stats["count"], stats["sent"], stats["received"]) == (3, 3, 3)
    assert stats["loss_percent"] == 0.0
    assert stats["rtt_min_ms"] <= stats["rtt_avg_ms"] <= stats["rtt_max_ms"]
    assert stats["rtt_stddev_ms"] >= 0
    assert stats["jitter_ms"] >= 0
    assert [a["seq"] for a in stats["attempts"]] == [0, 1, 2]
    assert result.resolved.used == "127.0.0.1"
    assert result.ip_version == 4
    json.dumps(result.to_dict())


@needs_icmp
def test_pings_ipv6_loopback(policy):
    result = run_probe("ping", "::1", {"count": 1}, policy=policy)

    assert result.status == "ok", result.error
    assert result.ip_version == 6


@needs_icmp
def test_starts_no_echo_that_could_overrun_the_time_budget(policy):
    # An echo may wait 0.3 s: none starts later than 0.2 s into the 0.5 s budget.
    limits = Limits(max_duration_s=0.5)
    options = {"count": 16, "interval": 0.05, "timeout": 0.3}
    result = run_probe("ping", "127.0.0.1", options, policy=policy, limits=limits)

    assert result.status == "ok", result.error
    assert 1 <= result.result["sent"] <= 5
    assert result.duration_ms < 500 + 100


@pytest.mark.skipif(UNPRIVILEGED, reason="this kernel permits unprivileged ICMP sockets")
def test_is_unsupported_where_the_kernel_forbids_unprivileged_icmp(policy):
    limits = Limits(icmp_privilege="unprivileged")
    result = run_probe("ping", "127.0.0.1", {"count": 1}, policy=policy, limits=limits)

    assert result.status == "failed"
    assert result.error.code == "unsupported"
    assert "ping_group_range" in result.error.message
    assert "tcp ping" in result.error.message
    assert result.result == {"suggestion": "tcp"}
    assert result.resolved.used == "127.0.0.1"


def test_is_unsupported_when_no_icmp_socket_can_be_opened(policy):
    # Stands in for AWS Lambda, where both socket kinds are refused: cannot be arranged as root.
    with mock.patch(
        "modules.netprobe.probes.icmp.ICMPv4Socket",
        autospec=True,
        side_effect=SocketPermissionError(False),
    ) as opened:
        result = run_probe("ping", "127.0.0.1", {"count": 1}, policy=policy)

    assert [c.kwargs["privileged"] for c in opened.call_args_list] == [False, True]
    assert result.status == "failed"
    assert result.error.code == "unsupported"


def test_raises_for_a_refused_ping_target():
    with pytest.raises(EgressForbidden):
        run_probe("ping", "127.0.0.1", {"count": 1}, policy=EgressPolicy())
    with pytest.raises(EgressForbidden):
        run_probe("traceroute", "169.254.169.254", policy=EgressPolicy(["169.254.0.0/16"]))


@needs_raw
def test_traces_the_route_to_loopback(policy):
    limits = Limits(reverse_dns_timeout_s=0.3)
    result = run_probe("traceroute", "127.0.0.1", {"max_hops": 5}, policy=policy, limits=limits)

    assert result.status == "ok", result.error
    assert result.result["reached"] is True
    assert result.result["destination"] == "127.0.0.1"
    hops = result.result["hops"]
    assert hops[-1]["address"] == "127.0.0.1"
    assert [h["distance"] for h in hops] == list(range(1, len(hops) + 1))
    assert len(hops[-1]["rtts_ms"]) == 2
    assert all(r >= 0 for r in hops[-1]["rtts_ms"])
    assert "name" in hops[-1]
    json.dumps(result.to_dict())


@needs_raw
def test_skips_reverse_names_when_asked(policy):
    result = run_probe("traceroute", "127.0.0.1", {"reverse_dns": False, "count": 1}, policy=policy)

    assert result.result["hops"][-1]["name"] is None
    assert len(result.result["hops"][-1]["rtts_ms"]) == 1


@needs_raw
def test_traceroute_sends_no_probe_that_could_overrun_the_time_budget(policy):
    # One echo may wait 0.5 s, the budget is 0.3 s: nothing fits, so nothing is sent.
    limits = Limits(max_duration_s=0.3)
    options = {"timeout": 0.5, "reverse_dns": False}
    result = run_probe("traceroute", "127.0.0.1", options, policy=policy, limits=limits)

    assert result.status == "failed"
    assert result.result["stopped"] == "deadline"
    assert result.result["hops"] == []
    assert "time budget" in result.error.message


def test_reports_traceroute_unsupported_without_raw_sockets(policy):
    limits = Limits(icmp_privilege="unprivileged")
    result = run_probe("traceroute", "127.0.0.1", policy=policy, limits=limits)

    assert result.status == "failed"
    assert result.error.code == "unsupported"
    assert "not available in this runtime" in result.error.message


@pytest.mark.parametrize(
    ("kind", "target", "options", "field"),
    [
        ("ping", "127.0.0.1", {"count": 17}, "count"),
        ("ping", "127.0.0.1:80", {}, "target"),
        ("ping", "127.0.0.1", {"interval": 0.001}, "interval"),
        ("traceroute", "127.0.0.1", {"max_hops": 31}, "max_hops"),
        ("traceroute", "127.0.0.1", {"count": 4}, "count"),
        ("traceroute", "not a host", {}, "target"),
    ],
)
def test_rejects_invalid_options(kind, target, options, field):
    with pytest.raises(ProbeOptionsError) as caught:
        run_probe(kind, target, options, policy=EgressPolicy())
    assert field in caught.value.errors
