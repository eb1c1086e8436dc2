"""The management commands: netprobe (exit codes 0/1/2, JSON errors), netprobe_run_monitors
(once, and --loop until a signal), netprobe_prune."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
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
def test_prints_a_summary_and_exits_0_when_the_probe_succeeds(tcp_listener):
    out = netprobe("tcp", tcp_listener.target, "--count", "2", "--interval", "0.05")

    assert f"tcp {tcp_listener.target}: OK" in out
    assert "2 sent, 2 received, 0.0% loss" in out
    assert ProbeResult.objects.get().status == "ok"


@pytest.mark.django_db
def test_prints_the_http_phases(http_server):
    out = netprobe("http", f"{http_server.url}/", "-o", "expect_status=2xx")

    assert "200 OK HTTP/1.1" in out
    assert "ttfb" in out
    assert "total" in out


@pytest.mark.django_db
def test_prints_json(dns_server):
    out = netprobe(
        "dns", "netprobe.test", "--record-type", "MX", "--resolver", dns_server.address, "--json"
    )

    data = json.loads(out)
    assert data["status"] == "ok"
    assert data["result"]["answers"][0]["value"] == "10 mail.netprobe.test."
    assert data["id"] == ProbeResult.objects.get().pk


@pytest.mark.django_db
def test_exits_1_when_the_probe_fails(closed_port):
    out = StringIO()
    with pytest.raises(SystemExit) as caught:
        call_command("netprobe", "tcp", closed_port.target, "--count", "1", stdout=out)

    assert caught.value.code == 1
    assert "FAILED" in out.getvalue()
    assert "connection refused" in out.getvalue()


@pytest.mark.django_db
def test_exits_2_for_invalid_options_and_refused_targets(settings):
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


@pytest.mark.django_db
def test_with_json_a_refused_target_and_invalid_options_are_json_on_stdout(settings):
    settings.EGRESS_ALLOWED_NETWORKS = []

    refused, refused_code = netprobe_exit("tcp", "0x7f000001:80", "--json")
    invalid, invalid_code = netprobe_exit("tcp", "example.com:443", "--count", "99", "--json")
    malformed, malformed_code = netprobe_exit("http", "example.com", "-o", "keyword", "--json")

    assert (refused_code, invalid_code, malformed_code) == (2, 2, 2)
    error = json.loads(refused)["error"]
    assert error["code"] == "target_forbidden"
    assert error["message"].startswith("Outbound connection to")
    assert error["details"]["address"] == "127.0.0.1"
    error = json.loads(invalid)["error"]
    assert error["code"] == "invalid_options"
    assert error["details"]["fields"] == {"count": "must be between 1 and 16"}
    assert "count: must be between 1 and 16" in error["message"]
    error = json.loads(malformed)["error"]
    assert error["code"] == "invalid_options"
    assert "NAME=VALUE" in error["details"]["fields"]["option"]
    assert not ProbeResult.objects.exists()


def netprobe_exit(*args: str) -> tuple[str, int]:
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as caught:
        call_command("netprobe", *args, stdout=out, stderr=err)
    assert err.getvalue() == ""
    return out.getvalue(), caught.value.code


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


@pytest.mark.slow
def test_the_real_process_prints_a_refused_target_as_json_and_exits_2():
    refused = _manage("netprobe", "http", "http://10.0.0.1/", "--no-save", "--json")

    assert refused.returncode == 2, refused
    assert json.loads(refused.stdout)["error"]["code"] == "target_forbidden"
    assert refused.stderr == ""


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


@pytest.mark.django_db
def test_the_loop_interval_must_be_a_sane_number_of_seconds():
    with pytest.raises(CommandError, match=r"between 0\.05 and 86400"):
        call_command("netprobe_run_monitors", "--loop", "0")
    with pytest.raises(CommandError, match="not a number of seconds"):
        call_command("netprobe_run_monitors", "--loop", "soon")


@pytest.fixture(scope="module")
def monitors_db(tmp_path_factory: pytest.TempPathFactory, tcp_listener) -> Path:
    """A migrated SQLite file with one due tcp monitor, for commands run as real processes."""
    path = tmp_path_factory.mktemp("loop") / "template.sqlite3"
    setup = (
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0)\n"
        "from modules.netprobe.models import Monitor\n"
        f"Monitor.objects.create(name='loop', kind='tcp', target={tcp_listener.target!r},"
        " options={'count': 1}, failure_threshold=1, recovery_threshold=1)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", setup],
        cwd=ROOT,
        env=_loop_env(path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return path


def _loop_env(database: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{database}",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.mark.slow
@pytest.mark.nodb  # its database is its own SQLite file, not the test database
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_the_loop_runs_until_a_signal_and_stops_gracefully(monitors_db, tmp_path, stop):
    database = tmp_path / "db.sqlite3"
    shutil.copy(monitors_db, database)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "netprobe_run_monitors", "--loop", "0.2", "-v", "2"],
        cwd=ROOT,
        env=_loop_env(database),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, process.kill)  # a loop that never stops fails, not hangs
    watchdog.start()
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().rstrip("\n")]
        while sum(line.startswith("NetProbe monitors: 0 due") for line in lines) < 2:
            line = process.stdout.readline()
            assert line, (lines, process.stderr.read() if process.stderr else "")
            lines.append(line.rstrip("\n"))
        process.send_signal(stop)
        rest, errors = process.communicate(timeout=30)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, (lines, rest, errors)
    assert lines[0] == "NetProbe monitors: running every 0.2 s until SIGTERM or SIGINT."
    assert lines[1] == (
        "NetProbe monitors: 1 due, 1 claimed, 1 run: 1 ok, 0 failed; loop: unknown -> up"
    )
    runs = int(rest.strip().splitlines()[-1].split("after ")[1].split(" run")[0])
    assert rest.strip().splitlines()[-1] == f"NetProbe monitors: stopped after {runs} run(s)."
    assert runs >= 3
    assert "Traceback" not in errors
