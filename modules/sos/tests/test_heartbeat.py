"""The worker's heartbeat and its liveness probe: a real `sos_worker` process beats while its
loop turns, and the probe fails when the loop stops (a frozen process, a send stuck past its
lease) and not before."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from modules.sos.outbox.heartbeat import Heartbeat

ROOT = Path(__file__).resolve().parents[3]
PROBE = [sys.executable, "-m", "modules.sos.outbox.heartbeat"]


def probe(path: Path, max_age: float) -> subprocess.CompletedProcess[str]:
    """The exec liveness probe as the chart runs it (with the file named by --path)."""
    return subprocess.run(
        [*PROBE, "--path", str(path), "--max-age", str(max_age)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_probe_passes_on_a_fresh_heartbeat_and_fails_on_a_stale_or_missing_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "worker.heartbeat"
    missing = probe(path, 60)
    assert missing.returncode == 1
    assert "has not started its loop" in missing.stderr
    Heartbeat(path).beat()
    assert probe(path, 60).returncode == 0
    old = time.time() - 61
    os.utime(path, (old, old))
    stale = probe(path, 60)
    assert stale.returncode == 1
    # 61 s, or more when the probe's start-up is slow on a loaded machine.
    assert re.search(r"\b6[1-9] s old \(limit 60 s\)", stale.stderr), stale.stderr


def test_the_probe_starts_no_django(tmp_path: Path) -> None:
    # It runs every few seconds beside the worker: only the standard library is imported.
    path = tmp_path / "worker.heartbeat"
    Heartbeat(path).beat()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *PROBE[1:], "--path", str(path), "--max-age", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()]
    assert "django" not in imported
    assert not [name for name in imported if name.startswith(("django.", "modules.sos.models"))]


def test_the_heartbeat_touches_the_file_at_most_once_a_second(tmp_path: Path) -> None:
    path = tmp_path / "worker.heartbeat"
    heartbeat = Heartbeat(path)
    heartbeat.beat()
    old = time.time() - 30
    os.utime(path, (old, old))
    heartbeat.beat()  # within the second: not written again
    assert path.stat().st_mtime == pytest.approx(old)
    heartbeat.beat(force=True)
    assert time.time() - path.stat().st_mtime < 5
    Heartbeat(None).beat()  # no file configured: nothing happens


def test_the_probe_refuses_to_run_without_a_file(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SOS_WORKER_HEARTBEAT"}
    done = subprocess.run(
        [*PROBE, "--max-age", "60"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "SOS_WORKER_HEARTBEAT" in done.stderr


# --- a real worker process ---------------------------------------------------------------------


def _database_url() -> str:
    """The test database, for a worker in another process (SQLite file or PostgreSQL)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user, host, port = db["USER"], db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


@pytest.fixture
def worker(tmp_path: Path, transactional_db: None) -> Iterator[Any]:
    """start(**env) -> (process, heartbeat path): `manage.py sos_worker` on the test database."""
    processes: list[subprocess.Popen[bytes]] = []
    heartbeat = tmp_path / "sos-worker.heartbeat"

    def start(**env: str) -> tuple[subprocess.Popen[bytes], Path]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
        base.update(
            DJANGO_SETTINGS_MODULE="portal.settings",
            DEBUG="1",
            DATABASE_URL=_database_url(),
            EGRESS_ALLOWED_NETWORKS="127.0.0.0/8",
            SOS_WAKE="none",
            SOS_WORKER_HEARTBEAT=str(heartbeat),
            LOG_LEVEL="warning",
        )
        base.update(env)
        process = subprocess.Popen(
            [sys.executable, "manage.py", "sos_worker", "--poll", "0.2", "--workers", "1"],
            cwd=ROOT,
            env=base,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        return process, heartbeat

    yield start
    for process in processes:
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait(10)


@pytest.mark.slow
def test_a_frozen_worker_fails_its_probe_and_a_running_one_passes(worker: Any) -> None:
    process, heartbeat = worker()
    wait_for(lambda: probe(heartbeat, 2).returncode == 0, 60, "the worker's first heartbeat")
    time.sleep(3)  # idle polls keep it fresh
    assert probe(heartbeat, 2).returncode == 0
    process.send_signal(signal.SIGSTOP)  # the loop stops turning, the process is still there
    time.sleep(3)
    stale = probe(heartbeat, 2)
    assert stale.returncode == 1, stale.stdout
    assert "s old (limit 2 s)" in stale.stderr
    process.send_signal(signal.SIGCONT)
    wait_for(lambda: probe(heartbeat, 2).returncode == 0, 10, "the heartbeat after SIGCONT")


class TricklingSmtpServer:
    """An SMTP server whose greeting never ends: a continuation line ("220-") one byte at a
    time. Every byte arrives well within the socket timeout (EMAIL_TIMEOUT), so smtplib alone
    would wait for ever; the send's deadline (modules/sos/channels/smtp.py) must end it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.connected = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        self.connected.set()
        with conn:
            while not self.stopped.is_set():
                for byte in b"220-still here\r\n":
                    try:
                        conn.send(bytes([byte]))
                    except OSError:
                        return
                    if self.stopped.wait(0.1):
                        return

    def stop(self) -> None:
        self.stopped.set()
        self.sock.close()


@pytest.mark.slow
def test_a_worker_whose_smtp_server_never_finishes_its_greeting_gives_up_and_stays_alive(
    worker: Any, make_contact: Any
) -> None:
    from modules.sos.models import Delivery

    smtp = TricklingSmtpServer()
    try:
        make_contact("Ann", email="ann@example.com", groups=["ops"])
        call_command("sos_raise", "-g", "ops", "-m", "Fire", stdout=open(os.devnull, "w"))  # noqa: SIM115
        lease_s = 5
        process, heartbeat = worker(
            SOS_EMAIL_BACKEND="smtp",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(smtp.port),
            EMAIL_TIMEOUT="1",
            SOS_SEND_TIMEOUT_S="1",
            SOS_LEASE_S=str(lease_s),
            SOS_RATE_SMS="0",  # a 3-part SMS at 1/s would not fit a 5 s lease (leases.py)
            SOS_BACKOFF_BASE_S="30",
        )
        assert smtp.connected.wait(60), "the worker never connected to the SMTP server"
        claimed = time.monotonic()
        # The send ends at its deadline (1 s), well inside its lease: the row is due again
        # later, and the loop, never stuck, keeps its heartbeat fresh past the lease.
        wait_for(
            lambda: Delivery.objects.filter(state="pending", attempts=1).exists(),
            lease_s,
            "the stuck send to be given up",
        )
        assert "timed out after 1 s" in Delivery.objects.get().last_error
        time.sleep(max(0.0, claimed + lease_s + 1 - time.monotonic()))
        assert probe(heartbeat, 2).returncode == 0
        assert process.poll() is None
    finally:
        smtp.stop()
