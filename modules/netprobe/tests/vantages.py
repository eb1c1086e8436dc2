"""Real vantage processes for tests and benchmarks: gunicorn serving portal.wsgi with
NETPROBE_ROLE=vantage, each on its own loopback address with its own environment and secret,
and no database reachable (DATABASE_URL points at a closed port: a vantage needs none).

    with start_vantages(tmp_path, ["127.0.0.2", "127.0.0.3"]) as fleet:
        fleet[0].url, fleet[0].secret, fleet[0].name   # register them on the hub
        fleet[0].stop()                                # a vantage that went down
        fleet[0].start()                               # ... and came back, same address

A module-scoped fixture keeps the processes for a whole test module (about half a second to
start):

    @pytest.fixture(scope="module")
    def vantage_fleet(tmp_path_factory):
        with start_vantages(tmp_path_factory.mktemp("vantages")) as fleet:
            yield fleet

`SlowRelay(upstream_url, delay_s)` is a slow network path in front of one: every connection is
held `delay_s` before it is relayed.
"""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .webprocess import PYTHON, REPO, wait_for

HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
# A port nothing listens on: a vantage that tried to use the database would fail loudly.
NO_DATABASE = "postgres://nobody@127.0.0.1:9/none"


def new_secret() -> str:
    return secrets.token_hex(24)  # 48 bytes


@dataclass
class VantageProcess:
    name: str
    host: str
    port: int
    secret: str
    log: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    command: list[str] = field(repr=False, default_factory=list)
    env: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """(Re)start the process on its address and port; returns once it answers."""
        if self.process.poll() is None:
            return
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.wait_ready()

    def wait_ready(self) -> None:
        wait_for(
            lambda: self.process.poll() is not None or _answers(self.host, self.port),
            60,
            f"vantage {self.name}",
        )
        if self.process.poll() is not None:
            raise AssertionError(self.log.read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def vantage_env(home: Path, *, host: str, secret: str, name: str, **extra: str) -> dict[str, str]:
    """A clean environment (nothing of the test process's leaks in), vantage role."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "DOTENV": "0",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_hex(32),
        "ALLOWED_HOSTS": host,
        "DATABASE_URL": NO_DATABASE,
        "NETPROBE_ROLE": "vantage",
        "NETPROBE_VANTAGE_SECRET": secret,
        "NETPROBE_VANTAGE_REGION": f"test-{name}",
        "EGRESS_ALLOWED_NETWORKS": "127.0.0.0/8",
        # One gunicorn worker unless told otherwise: its locmem cache is the whole store.
        "NETPROBE_VANTAGE_REPLAY_STORE": "process",
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "warning",
        **extra,
    }


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _answers(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _spawn(
    home: Path, host: str, name: str, secret: str, env: dict[str, str], workers: int
) -> VantageProcess:
    port = _free_port(host)
    log = home / f"vantage-{name}.log"
    full_env = vantage_env(home, host=host, secret=secret, name=name, **env)
    command = [
        str(PYTHON),
        "-m",
        "gunicorn",
        "portal.wsgi:application",
        "--bind",
        f"{host}:{port}",
        # One worker by default: its locmem cache is the whole replay store (several
        # workers or instances share one through CACHE_URL=redis://).
        "--workers",
        str(workers),
        "--threads",
        "8",
        "--timeout",
        "60",
        "--no-control-socket",
        "--error-logfile",
        "-",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env=full_env, stdout=out, stderr=subprocess.STDOUT
        )
    return VantageProcess(name, host, port, secret, log, process, command, full_env)


@contextmanager
def start_vantages(
    home: Path,
    hosts: Sequence[str] = HOSTS,
    *,
    names: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
    workers: int = 1,
) -> Iterator[list[VantageProcess]]:
    """One vantage process per host, started at once; stopped when the block ends. `env` adds
    to (or overrides) each one's environment, e.g. CACHE_URL."""
    names = list(names or [f"v{host.rsplit('.', 1)[-1]}" for host in hosts])
    home.mkdir(parents=True, exist_ok=True)
    fleet: list[VantageProcess] = []
    try:
        for host, name in zip(hosts, names, strict=True):
            fleet.append(_spawn(home, host, name, new_secret(), env or {}, workers))
        for v in fleet:
            v.wait_ready()
        yield fleet
    finally:
        for v in fleet:
            v.stop()


class SlowRelay:
    """A TCP relay on 127.0.0.1 that holds every connection `delay_s` before relaying it to
    `upstream` (a URL): a slow network path to a real vantage."""

    def __init__(self, upstream: str, delay_s: float) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "", parts.port or 80)
        self.delay_s = delay_s
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        time.sleep(self.delay_s)
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            client.close()
            return
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def stop(self) -> None:
        with suppress(OSError):
            self.sock.close()

    def __enter__(self) -> SlowRelay:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
