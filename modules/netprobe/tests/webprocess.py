"""Real portal processes for the scheduler tests: `manage.py` in a subprocess on a temporary
SQLite database, `runserver` on a free loopback port, results read straight from the file."""

from __future__ import annotations

import secrets
import socket
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
PYTHON = REPO / ".venv" / "bin" / "python"


def portal_env(db: Path, **extra: str) -> dict[str, str]:
    """A clean environment: nothing of the test process's (or a developer's `.env`) leaks in."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(db.parent),
        "LANG": "C.UTF-8",
        "DOTENV": "0",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{db}",
        "EGRESS_ALLOWED_NETWORKS": "127.0.0.0/8",
        "SOS_WAKE": "none",
        "FINOPS_TRAFFIC": "0",
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "info",
        **extra,
    }


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [str(PYTHON), "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def _healthy(port: int, host: str) -> bool:
    """Whether *our* server answers on `port`: only it allows the Host name `host`, so another
    test's server that took the port between free_port() and our bind answers 400."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status == 200 and response.read() == b'{"status": "ok"}'
    except OSError:
        return False


@contextmanager
def web_process(env: dict[str, str], log: Path, attempts: int = 3) -> Iterator[int]:
    """`manage.py runserver --noreload` on a free port until the block ends; yields the port.

    A port free when chosen may be taken before the server binds it (parallel test workers):
    the server then exits, and another port is tried."""
    host = f"np-{secrets.token_hex(6)}.test"
    hosts = ",".join(filter(None, (env.get("ALLOWED_HOSTS"), "localhost,127.0.0.1", host)))
    for attempt in range(1, attempts + 1):
        port = free_port()
        with log.open("w") as out:
            process = subprocess.Popen(
                [str(PYTHON), "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                cwd=REPO,
                env={**env, "ALLOWED_HOSTS": hosts},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_for(
                    lambda p=process, n=port: p.poll() is not None or _healthy(n, host),
                    60,
                    "the server",
                )
                if process.poll() is not None:
                    if attempt < attempts and "already in use" in log.read_text():
                        continue
                    raise AssertionError(log.read_text())
                yield port
                return
            finally:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def results(db: Path) -> list[tuple[int, datetime, str]]:
    """(monitor id, started_at, status) of every stored result, oldest first."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        rows = conn.execute(
            "SELECT monitor_id, started_at, status FROM netprobe_proberesult "
            "WHERE monitor_id IS NOT NULL ORDER BY started_at"
        ).fetchall()
    return [(m, datetime.fromisoformat(at).replace(tzinfo=UTC), s) for m, at, s in rows]
