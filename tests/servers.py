"""The portal as users run it, for tests and benchmarks: gunicorn on a scratch PostgreSQL
database on loopback."""

from __future__ import annotations

import base64
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
PG_HOST, PG_PORT = "127.0.0.1", 5432
GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_available() -> str | None:
    """None when PostgreSQL answers on loopback, else why not."""
    try:
        psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres").close()
    except psycopg.Error as exc:
        return f"PostgreSQL is not running on {PG_HOST}:{PG_PORT}: {exc}"
    return None


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards (connections and all)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres", autocommit=True
    )
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def database_url(name: str, port: int = PG_PORT) -> str:
    return f"postgres://postgres@{PG_HOST}:{port}/{name}"


def portal_env(database: str, **extra: str) -> dict[str, str]:
    """Production-like settings: DEBUG off, a real secret, loopback peers allowed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        # Production refuses a gallery without a master key (503 gallery_key_missing).
        FACES_MASTER_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database,
        EGRESS_ALLOWED_NETWORKS="127.0.0.0/8",
        SOS_WAKE="none",
        LOG_LEVEL="warning",
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, timeout=600)


def run_python(env: dict[str, str], code: str) -> str:
    """Run `code` after django.setup() in a fresh process; its standard output."""
    return subprocess.run(
        [sys.executable, "-c", f"import django\ndjango.setup()\n{code}"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout


@contextmanager
def gunicorn(
    env: dict[str, str], log: Path, *, workers: int = 2, threads: int = 4
) -> Iterator[str]:
    """gunicorn serving portal.wsgi (the container's command) until the block ends; its URL."""
    port = free_port()
    server = subprocess.Popen(
        [
            str(GUNICORN),
            "portal.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            # As the image's entrypoint runs it (ops/docker_containerization/entrypoint.sh),
            # less --max-requests: a worker recycled mid-test would be noise here.
            "--timeout",
            "60",
            "--graceful-timeout",
            "25",
            "--keep-alive",
            "75",
            "--no-control-socket",
            "--error-logfile",
            str(log),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url + "/healthz", server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def _wait_until_up(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers (a site without /healthz says 404)
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer in 90 s: {log.read_text()[-3000:]}")
