"""The management commands: netprobe (exit codes 0/1/2), netprobe_run_monitors, netprobe_prune."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from modules.netprobe.models import Monitor, ProbeResult

from .support import make_result

pytestmark = pytest.mark.usefixtures("np_settings")
ROOT = Path(__file__).resolve().parents[3]


def netprobe(*args: str) -> str:
    out = StringIO()
    call_command("netprobe", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_prints_a_summary_and_exits_0_when_the_probe_succeeds(tcp_listener):
    out = netprobe("tcp", tcp_listener.target, "--count", "2", "--interval", "0.05")

    assert f"tcp {tcp_listener.target}: OK" in out
    assert "2 sent, 2 received, 0.0% loss" in out
    assert ProbeResult.objects.get().status == "ok"


@pytest.mark.django_db
def test_it_prints_the_http_phases(http_server):
    out = netprobe("http", f"{http_server.url}/", "-o", "expect_status=2xx")

    assert "200 OK HTTP/1.1" in out
    assert "ttfb" in out
    assert "total" in out


@pytest.mark.django_db
def test_it_prints_json(dns_server):
    out = netprobe(
        "dns", "netprobe.test", "--record-type", "MX", "--resolver", dns_server.address, "--json"
    )

    data = json.loads(out)
    assert data["status"] == "ok"
    assert data["result"]["answers"][0]["value"] == "10 mail.netprobe.test."
    assert data["id"] == ProbeResult.objects.get().pk


@pytest.mark.django_db
def test_it_exits_1_when_the_probe_fails(closed_port):
    out = StringIO()
    with pytest.raises(SystemExit) as caught:
        call_command("netprobe", "tcp", closed_port.target, "--count", "1", stdout=out)

    assert caught.value.code == 1
    assert "FAILED" in out.getvalue()
    assert "connection refused" in out.getvalue()


@pytest.mark.django_db
def test_it_exits_2_for_invalid_options_and_refused_targets(settings):
    with pytest.raises(CommandError) as invalid:
        netprobe("tcp", "example.com:443", "--count", "99")
    settings.EGRESS_ALLOWED_NETWORKS = []
    with pytest.raises(CommandError) as refused:
        netprobe("tcp", "0x7f000001:80")
    with pytest.raises(CommandError) as malformed:
        netprobe("tcp", "example.com:443", "-o", "count")

    assert invalid.value.returncode == 2
    assert "count: must be between 1 and 16" in str(invalid.value)
    assert refused.value.returncode == 2
    assert str(refused.value).startswith("target_forbidden:")
    assert malformed.value.returncode == 2
    assert not ProbeResult.objects.exists()


def _manage(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_the_real_process_exits_0_1_and_2(tcp_listener, closed_port):
    ok = _manage("netprobe", "tcp", tcp_listener.target, "--count", "1", "--no-save")
    failed = _manage("netprobe", "tcp", closed_port.target, "--count", "1", "--no-save", "--json")
    usage = _manage("netprobe", "teleport", "example.com")

    assert (ok.returncode, failed.returncode, usage.returncode) == (0, 1, 2), (ok, failed, usage)
    assert ": OK" in ok.stdout
    assert json.loads(failed.stdout)["error"]["code"] == "connect"
    assert "invalid choice: 'teleport'" in usage.stderr


@pytest.mark.django_db
def test_run_monitors_prints_a_summary(tcp_listener):
    Monitor.objects.create(
        name="tcp",
        kind="tcp",
        target=tcp_listener.target,
        options={"count": 1},
        failure_threshold=1,
        recovery_threshold=1,
    )
    out = StringIO()

    call_command("netprobe_run_monitors", stdout=out)
    call_command("netprobe_run_monitors", "--json", stdout=out)

    first, second = out.getvalue().strip().splitlines()
    assert first == "NetProbe monitors: 1 due, 1 claimed, 1 run: 1 ok, 0 failed; tcp: unknown -> up"
    assert json.loads(second)["due"] == 0


@pytest.mark.django_db
def test_prune_deletes_results_past_the_retention(settings):
    settings.NETPROBE_RETENTION_DAYS = 30
    make_result(ago=timedelta(days=31))
    make_result(ago=timedelta(days=29))
    out = StringIO()

    call_command("netprobe_prune", stdout=out)
    call_command("netprobe_prune", "--older-than-days", "1", stdout=out)

    assert out.getvalue().splitlines() == [
        "Deleted 1 NetProbe result(s) older than 30 day(s).",
        "Deleted 1 NetProbe result(s) older than 1 day(s).",
    ]
    assert not ProbeResult.objects.exists()
