"""The scheduler thread of the web process: monitors run with nothing else started, and web
processes sharing one database run each due monitor once. Real `runserver` processes on
loopback, a temporary SQLite database, probes against a loopback HTTP server."""

from __future__ import annotations

import re
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connections

from modules.netprobe import scheduler

from .httpserver import LoopbackHTTPServer
from .webprocess import manage, portal_env, results, wait_for, web_process

CREATE = """
from datetime import timedelta
from django.utils import timezone
from modules.netprobe import services
from modules.netprobe.models import Monitor
for i in range({count}):
    services.monitor_create(
        name=f"m{{i}}",
        kind="http",
        target="{url}{path}",
        interval_s={interval},
        enabled=False,
    )
at = timezone.now() + timedelta(seconds={delay})
Monitor.objects.update(enabled=True, state="unknown", next_run_at=at)
"""


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("scheduler") / "migrated.sqlite3"
    manage(portal_env(db), "migrate", "--noinput", "-v", "0")
    return db


@pytest.fixture
def database(migrated: Path, tmp_path: Path) -> Path:
    """A migrated database of this test's own (a copy: migrating takes seconds)."""
    db = tmp_path / "portal.sqlite3"
    shutil.copyfile(migrated, db)
    return db


def create_monitors(
    db: Path,
    url: str,
    *,
    count: int,
    interval: int,
    delay: float,
    path: str = "/text?body=m{{i}}",  # {{i}}: the monitor's number, in the script's f-string
) -> None:
    script = CREATE.format(count=count, url=url, interval=interval, delay=delay, path=path)
    manage(portal_env(db), "shell", "-c", script)


@pytest.mark.slow
def test_the_web_process_runs_a_30_s_monitor_without_any_command(
    database: Path, tmp_path: Path, http_server: LoopbackHTTPServer
):
    with web_process(portal_env(database), tmp_path / "web.log"):
        create_monitors(database, http_server.url, count=1, interval=30, delay=0)
        first = wait_for(lambda: results(database), 15, "the first run")
        runs = wait_for(lambda: len(results(database)) >= 2 and results(database), 45, "a rerun")

    assert first[0][2] == "ok"
    gap = (runs[1][1] - runs[0][1]).total_seconds()
    assert 29 <= gap <= 33, gap
    assert [status for _, _, status in runs] == ["ok", "ok"]


@pytest.mark.slow
def test_two_web_processes_run_each_due_monitor_once(
    database: Path, tmp_path: Path, http_server: LoopbackHTTPServer
):
    # Small waves, so the two processes' passes interleave over the same due monitors.
    env = portal_env(database, NETPROBE_SCHEDULER_TICK_S="0.2", NETPROBE_BATCH_WORKERS="4")
    logs = [tmp_path / "web1.log", tmp_path / "web2.log"]
    count = 24
    with web_process(env, logs[0]), web_process(env, logs[1]):
        # All due at the same instant, a little after both servers have seen them; each probe
        # takes 300 ms, so one process's waves cannot drain them all between the other's ticks.
        create_monitors(
            database, http_server.url, count=count, interval=30, delay=2, path="/delay/300?m={{i}}"
        )
        wait_for(lambda: len({m for m, _, _ in results(database)}) == count, 30, "every monitor")
        time.sleep(2)  # a second run of any of them, if the claims let one through, lands now

    runs = Counter(m for m, _, _ in results(database))
    assert len(runs) == count
    assert set(runs.values()) == {1}, runs
    claimed = [_claims(log) for log in logs]
    assert sum(c for c, _ in claimed) == count
    # Both processes saw monitors due; what one claimed the other could not claim again.
    assert all(due for _, due in claimed), [log.read_text()[-2000:] for log in logs]


def _claims(log: Path) -> tuple[int, int]:
    """(claimed, due) summed over the scheduler's lines in a server's log."""
    found = re.findall(r"NetProbe monitors: (\d+) due, (\d+) claimed", log.read_text())
    return sum(int(c) for _, c in found), sum(int(d) for d, _ in found)


def test_only_a_serving_runserver_starts_the_scheduler(monkeypatch):
    monkeypatch.delenv("RUN_MAIN", raising=False)

    assert scheduler.serving_runserver(["manage.py", "runserver", "--noreload"])
    assert not scheduler.serving_runserver(["manage.py", "runserver"])  # the reloader's parent
    assert not scheduler.serving_runserver(["manage.py", "migrate"])
    assert not scheduler.serving_runserver(["pytest"])
    monkeypatch.setenv("RUN_MAIN", "true")
    assert scheduler.serving_runserver(["manage.py", "runserver"])


def test_tests_and_commands_do_not_start_it(settings):
    assert settings.NETPROBE_SCHEDULER == "off"
    assert scheduler.start() is False
    assert scheduler._thread is None


@pytest.mark.django_db(transaction=True)
def test_the_thread_runs_due_monitors_and_stops(settings, http_server: LoopbackHTTPServer):
    from modules.netprobe import services
    from modules.netprobe.models import ProbeResult

    settings.NETPROBE_SCHEDULER = "thread"
    settings.NETPROBE_SCHEDULER_TICK_S = 0.1
    settings.EGRESS_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    m = services.monitor_create(name="web", kind="http", target=f"{http_server.url}/")

    assert scheduler.start() is True
    try:
        assert scheduler.start() is False  # one thread per process
        wait_for(lambda: ProbeResult.objects.filter(monitor=m).exists(), 15, "a run")
    finally:
        scheduler.stop(timeout=15)

    assert scheduler._thread is None
    m.refresh_from_db()
    assert m.state == "up"
    assert ProbeResult.objects.filter(monitor=m).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_dead_thread_is_replaced_at_the_next_request(settings, monkeypatch):
    import os
    import threading

    settings.NETPROBE_SCHEDULER = "thread"
    settings.NETPROBE_SCHEDULER_TICK_S = 0.1
    dead = threading.Thread(target=lambda: None)
    dead.start()
    dead.join()
    monkeypatch.setattr(scheduler, "_thread", dead)
    monkeypatch.setattr(scheduler, "_pid", os.getpid())

    try:
        scheduler.on_request(sender=None)
        assert scheduler._thread is not dead
        assert scheduler._thread.is_alive()
    finally:
        scheduler.stop(timeout=15)


@pytest.mark.django_db(transaction=True)
def test_an_error_closing_connections_does_not_end_the_thread(settings, monkeypatch):
    class Refusing:
        calls = 0

        def close_all(self) -> None:
            Refusing.calls += 1
            connections.close_all()  # the thread's own connection still goes (PostgreSQL's pass)
            raise RuntimeError("connection already gone")

    settings.NETPROBE_SCHEDULER = "thread"
    settings.NETPROBE_SCHEDULER_TICK_S = 0.05
    monkeypatch.setattr(scheduler, "connections", Refusing())

    assert scheduler.start() is True
    try:
        wait_for(lambda: Refusing.calls >= 3, 15, "three rounds")
        assert scheduler._thread.is_alive()
    finally:
        scheduler.stop(timeout=15)


ASGI_REQUEST = """
from django.core.handlers.asgi import ASGIHandler
from django.core.signals import request_started
from django.test.client import AsyncClientHandler
from modules.netprobe import scheduler
request_started.send(sender=AsyncClientHandler)
print("test client:", scheduler._thread is not None)
request_started.send(sender=ASGIHandler)
print("asgi:", scheduler._thread is not None and scheduler._thread.is_alive())
scheduler.stop(timeout=10)
"""


def test_an_asgi_servers_first_request_starts_it_but_the_test_clients_does_not(database):
    out = manage(portal_env(database, NETPROBE_SCHEDULER="thread"), "shell", "-c", ASGI_REQUEST)

    assert "test client: False" in out
    assert "asgi: True" in out
