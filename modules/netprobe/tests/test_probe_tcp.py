from __future__ import annotations

import json
import socket
import time

import pytest

from modules.netprobe.probes import Limits, ProbeOptionsError, run_probe
from portal.egress import EgressForbidden, EgressPolicy

from .servers import TcpListener, UnansweredPort


def test_times_every_connect_and_summarizes_them(policy):
    with TcpListener() as listener:
        result = run_probe("tcp", listener.target, {"count": 4, "interval": 0.05}, policy=policy)
        assert _eventually(lambda: listener.accepted == 4), listener.accepted

    assert result.status == "ok"
    assert result.error is None
    stats = result.result
    assert stats["port"] == listener.port
    assert (stats["count"], stats["sent"], stats["received"]) == (4, 4, 4)
    assert stats["loss_percent"] == 0.0
    rtts = [a["rtt_ms"] for a in stats["attempts"]]
    assert [a["seq"] for a in stats["attempts"]] == [0, 1, 2, 3]
    assert all(r is not None and r > 0 for r in rtts)
    assert stats["rtt_min_ms"] == min(rtts)
    assert stats["rtt_max_ms"] == max(rtts)
    assert stats["rtt_min_ms"] <= stats["rtt_avg_ms"] <= stats["rtt_max_ms"]
    assert stats["rtt_stddev_ms"] >= 0
    assert stats["stddev_kind"] == "population"
    assert stats["jitter_ms"] >= 0
    assert result.duration_ms >= 3 * 50
    assert result.resolved.used == "127.0.0.1"
    assert result.ip_version == 4
    json.dumps(result.to_dict())


def test_reports_full_loss_on_a_closed_port(closed_port, policy):
    result = run_probe("tcp", closed_port.target, {"count": 3, "interval": 0.05}, policy=policy)

    assert result.status == "failed"
    assert result.error.code == "connect"
    assert result.error.message == "connection refused"
    assert (result.result["sent"], result.result["received"]) == (3, 0)
    assert result.result["loss_percent"] == 100.0
    assert result.result["rtt_avg_ms"] is None
    assert result.result["jitter_ms"] is None
    assert all(a["rtt_ms"] is None for a in result.result["attempts"])
    assert all(a["error"]["code"] == "connect" for a in result.result["attempts"])


def test_takes_the_port_from_an_option(tcp_listener, policy):
    result = run_probe("tcp", "127.0.0.1", {"port": tcp_listener.port, "count": 1}, policy=policy)

    assert result.status == "ok"
    assert result.result["port"] == tcp_listener.port


def test_connects_over_ipv6(policy):
    with TcpListener("::1") as listener:
        result = run_probe("tcp", listener.target, {"count": 1, "ip_version": 6}, policy=policy)

    assert result.status == "ok"
    assert result.ip_version == 6
    assert result.resolved.used == "::1"


def test_stops_sending_when_the_time_budget_runs_out(tcp_listener, policy):
    limits = Limits(max_duration_s=0.15)
    options = {"count": 16, "interval": 0.1, "timeout": 0.04}
    result = run_probe("tcp", tcp_listener.target, options, policy=policy, limits=limits)

    assert result.status == "ok"
    assert result.result["count"] == 16
    assert 1 <= result.result["sent"] < 16


def test_starts_no_attempt_that_could_overrun_the_time_budget(policy):
    # Attempts time out after 0.4 s; a third would start at ~0.9 s and end past the 1 s budget.
    limits = Limits(max_duration_s=1.0)
    options = {"count": 16, "interval": 0.05, "timeout": 0.4}
    with UnansweredPort() as port:
        started = time.monotonic()
        result = run_probe("tcp", port.target, options, policy=policy, limits=limits)
        elapsed = time.monotonic() - started

    assert result.status == "timeout"
    assert result.error.code == "timeout"
    assert result.result["sent"] == 2  # no third attempt was started: the budget holds
    # And no wait far past it; the margin is for a loaded CI host (once 1.27 s for the two).
    assert elapsed <= 1.0 + 0.5, f"took {elapsed:.2f} s with a 1 s budget"


def test_sends_nothing_when_one_attempt_could_outlast_the_budget(tcp_listener, policy):
    limits = Limits(max_duration_s=0.5)
    result = run_probe("tcp", tcp_listener.target, {"timeout": 1}, policy=policy, limits=limits)

    assert result.status == "timeout"
    assert result.result["sent"] == 0
    assert "time budget" in result.error.message


def test_sends_nothing_to_a_refused_target():
    with TcpListener() as listener:
        with pytest.raises(EgressForbidden):
            run_probe("tcp", listener.target, {"count": 1}, policy=EgressPolicy())
        # Connections are accepted in order: once this marker is in, nothing came before it.
        socket.create_connection(("127.0.0.1", listener.port), timeout=2).close()
        assert _eventually(lambda: listener.accepted >= 1)
        assert listener.accepted == 1


def test_fails_with_dns_for_a_name_that_does_not_resolve(policy):
    result = run_probe("tcp", "nonexistent.invalid:80", {"count": 1}, policy=policy)

    assert result.status == "failed"
    assert result.error.code == "dns"
    assert result.resolved.addresses == ()


@pytest.mark.parametrize(
    ("target", "options", "field"),
    [
        ("127.0.0.1", {}, "port"),
        ("127.0.0.1:0", {}, "target"),
        ("127.0.0.1:http", {}, "target"),
        ("[::1", {}, "target"),
        ("127.0.0.1:80", {"count": 17}, "count"),
        ("127.0.0.1:80", {"count": 0}, "count"),
        ("127.0.0.1:80", {"count": True}, "count"),
        ("127.0.0.1:80", {"interval": 100}, "interval"),
        ("127.0.0.1:80", {"port": 70000}, "port"),
    ],
)
def test_rejects_invalid_targets_and_options(target, options, field):
    with pytest.raises(ProbeOptionsError) as caught:
        run_probe("tcp", target, options, policy=EgressPolicy())
    assert field in caught.value.errors


def _eventually(check, attempts: int = 50) -> bool:
    for _ in range(attempts):
        if check():
            return True
        time.sleep(0.01)
    return check()
