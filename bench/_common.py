"""What the benchmarks share: peer servers in processes of their own, Django set up from an
environment, alternating timings, the ratio lines, a scratch PostgreSQL database.

Not a benchmark itself (the Makefile's `bench` target leaves it out). Scripts import it after
putting the repository root on sys.path: `from bench._common import ...`.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modules.sos.outbox.job import Job

BENCH_SECRET_KEY = "bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"
ALERT_MESSAGE = "Evacuate building 2 now"


# --- servers on loopback, each in a process of its own ------------------------------------------


class ServerProcesses:
    """`count` processes running `serve(conn)`, started one after the other.

    `serve` sends one greeting (its port or URL), then answers commands sent over the pipe; on
    "quit" it stops its server and answers. Spawned, not forked: like a real server, a peer
    shares nothing with the process measuring it.
    """

    def __init__(self, serve: Callable[[Connection], None], count: int = 1) -> None:
        context = multiprocessing.get_context("spawn")
        self._conns: list[Connection] = []
        self._processes: list[Any] = []
        self.greetings: list[Any] = []
        for _ in range(count):
            parent, child = context.Pipe()
            process = context.Process(target=serve, args=(child,), daemon=True)
            process.start()
            self._conns.append(parent)
            self._processes.append(process)
            self.greetings.append(parent.recv())
        self._lock = threading.Lock()
        self._closed = False

    def ask_all(self, command: str) -> list[Any]:
        with self._lock:
            for conn in self._conns:
                conn.send(command)
            return [conn.recv() for conn in self._conns]

    def close(self) -> None:
        """Stops every server and waits for its process; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        self.ask_all("quit")
        for process in self._processes:
            process.join(5)


def serve_http_target(conn: Connection) -> None:
    """NetProbe's loopback HTTP target (/delay/<ms> and the like) until told to quit."""
    from modules.netprobe.tests.httpserver import LoopbackHTTPServer

    with LoopbackHTTPServer() as server:
        conn.send(server.url)
        conn.recv()  # until told to stop
    conn.send(True)


# --- Django in the bench process -----------------------------------------------------------------


def portal_env(tmp: str, **extra: str) -> dict[str, str]:
    """The portal's settings on a temporary SQLite database, loopback egress allowed."""
    return {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "SECRET_KEY": BENCH_SECRET_KEY,
        "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
        "STATIC_ROOT": tmp,  # no collectstatic for a benchmark of the API
        "EGRESS_ALLOWED_NETWORKS": "127.0.0.0/8",
        "ALLOWED_HOSTS": "testserver",
        "LOG_FORMAT": "text",
        **extra,
    }


def sos_env(**extra: str) -> dict[str, str]:
    """The test settings with only SOS_Broadcast, nobody woken, fast retries."""
    return {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PORTAL_MODULES": "sos",
        "SOS_WAKE": "none",
        "SOS_BACKOFF_BASE_S": "0.5",
        "SOS_BACKOFF_MAX_S": "2",
        "SOS_MAX_ATTEMPTS": "30",
        "PUBLIC_BASE_URL": "http://portal.bench",
        "LOG_LEVEL": "error",
        **extra,
    }


def setup_django(env: Mapping[str, str], *, migrate: bool = False) -> None:
    os.environ.update(env)
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def recreate_database(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def drop_database(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# --- measuring and reporting ---------------------------------------------------------------------


def medians_s(runs: int, *actions: Callable[[], Any]) -> list[float]:
    """Median wall time of each action; the actions alternate, so a busy machine slows all alike."""
    times: list[list[float]] = [[] for _ in actions]
    for _ in range(runs):
        for action, samples in zip(actions, times, strict=True):
            t0 = time.perf_counter()
            action()
            samples.append(time.perf_counter() - t0)
    return [statistics.median(samples) for samples in times]


def ratio_line(label: str, ratio: float, target: float, digits: int = 2) -> bool:
    """Prints `label = ratio x (target <= target x)`; True when the ratio meets the target."""
    print(f"{label} = {ratio:.{digits}f} x (target <= {target} x)")
    return ratio <= target


def pipeline_within(ratio: float, target: float) -> bool:
    """The SOS benchmarks' verdict on pipeline / bare loop, with its FAIL line when over."""
    if ratio > target:
        print(f"FAIL: the pipeline took {ratio:.2f}x the bare loop")
        return False
    return True


def doubles(counts: Counter[str]) -> int:
    """How many keys arrived more than once."""
    return sum(1 for n in counts.values() if n > 1)


# --- SOS: one message as the dispatcher would send it -------------------------------------------


def bench_job(
    *,
    delivery_id: int,
    kind: str,
    address: str,
    secret: str,
    contact_name: str,
    method_id: int,
    raised_at: datetime,
) -> Job:
    """A first attempt of the bench alert's message, outside any database row."""
    from modules.sos.outbox.job import Job

    return Job(
        delivery_id=delivery_id,
        lease_token="",
        attempt=1,
        round=0,
        kind=kind,
        address=address,
        secret=secret,
        contact_name=contact_name,
        method_id=method_id,
        escalation=False,
        alert_id=0,
        message=ALERT_MESSAGE,
        severity="critical",
        is_test=False,
        require_ack=False,
        source="bench",
        raised_at=raised_at,
        latitude=None,
        longitude=None,
        accuracy_m=None,
    )
