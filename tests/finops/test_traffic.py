"""The portal counts its own traffic with no database write per request."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal import lambda_tasks
from portal.finops import traffic
from portal.models import TrafficDay
from tests.finops.conftest import flush_due

ROOT = Path(__file__).resolve().parents[2]
TODAY = datetime.date(2026, 12, 7)


def touches_traffic(queries: CaptureQueriesContext) -> bool:
    return any("portal_trafficday" in q["sql"] for q in queries.captured_queries)


def test_a_request_adds_no_query_while_the_flush_interval_has_not_passed(
    client, operator, counting, settings, django_assert_num_queries
):
    client.force_login(operator)
    client.get("/")  # the session and the user's groups are cached from here on
    settings.FINOPS_TRAFFIC = False
    with CaptureQueriesContext(connection) as uncounted:
        client.get("/")
    settings.FINOPS_TRAFFIC = True
    traffic.discard()
    with django_assert_num_queries(len(uncounted.captured_queries)) as counted:
        assert client.get("/").status_code == 200
    assert not touches_traffic(counted)
    ((_, module), (requests, duration_ms)), *_ = traffic.pending().items()
    assert (module, requests) == ("portal", 1)
    assert duration_ms > 0
    assert not TrafficDay.objects.exists()


def test_counts_arrive_in_the_database_once_the_interval_has_passed(client, operator, counting):
    client.force_login(operator)
    client.get("/netprobe/")
    client.get("/api/sos/alerts/")
    client.get("/faces/no-such-page/")
    client.get("/healthz")  # a probe, not traffic
    client.get("/metrics")  # a scrape, not traffic
    flush_due()
    with CaptureQueriesContext(connection) as flushing:
        client.get("/accounts/password/")
    assert touches_traffic(flushing)
    counts = dict(TrafficDay.objects.values_list("module", "requests"))
    assert counts == {"netprobe": 1, "sos": 1, "faces": 1, "portal": 1}
    assert all(row.duration_ms >= 0 for row in TrafficDay.objects.all())
    assert traffic.pending() == {}


def test_a_flush_adds_to_the_days_row(counting, db):
    TrafficDay.objects.create(day=TODAY, module="sos", requests=5, duration_ms=500)
    for _ in range(3):
        traffic.record("sos", 100.0, day=TODAY)
    assert traffic.flush() == 1
    row = TrafficDay.objects.get(day=TODAY, module="sos")
    assert (row.requests, row.duration_ms) == (8, 800)


def test_the_per_minute_lambda_task_writes_this_environments_counts(counting, db, settings):
    settings.PORTAL_MODULES = ["faces"]  # the task's own command is skipped; the flush is not
    traffic.record("faces", 250.0, day=TODAY)
    result = lambda_tasks.sos_sweep({}, None)
    assert "skipped" in result
    assert TrafficDay.objects.get(day=TODAY, module="faces").requests == 1


def test_threads_counting_and_flushing_at_once_lose_no_counts(counting, transactional_db):
    def work() -> None:
        try:
            for i in range(200):
                traffic.record("netprobe", 2.0, day=TODAY)
                if i % 40 == 0:
                    traffic.flush()
            traffic.flush()
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    traffic.flush()
    row = TrafficDay.objects.get(day=TODAY, module="netprobe")
    assert (row.requests, row.duration_ms) == (800, 1600)


PROCESS = """
import django
django.setup()
from portal.finops import traffic
import datetime
day = datetime.date(2026, 12, 7)
for i in range(300):
    traffic.record("sos", 1.0, day=day)
    if i % 50 == 0:
        traffic.flush()
traffic.flush()
"""


def test_two_processes_flushing_into_one_row_lose_no_counts(transactional_db):
    database = connection.settings_dict["NAME"]
    if connection.vendor != "sqlite":
        pytest.skip("the processes reach the test database through its SQLite file")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{database}",
    }
    runs = [subprocess.Popen([sys.executable, "-c", PROCESS], cwd=ROOT, env=env) for _ in range(2)]
    assert [run.wait(timeout=60) for run in runs] == [0, 0]
    row = TrafficDay.objects.get(day=TODAY, module="sos")
    assert (row.requests, row.duration_ms) == (600, 600)


FIRST_REQUEST = """
import os
import django
django.setup()
from portal.finops import traffic
traffic.record("faces", 5.0, day=__import__("datetime").date(2026, 12, 7))
traffic.flush_if_due()
os._exit(0)  # reclaimed like a Lambda environment: no exit handlers run
"""


def test_a_new_process_writes_its_first_counted_request_at_once(transactional_db):
    database = connection.settings_dict["NAME"]
    if connection.vendor != "sqlite":
        pytest.skip("the process reaches the test database through its SQLite file")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{database}",
        "FINOPS_FLUSH_S": "3600",
    }
    run = subprocess.run([sys.executable, "-c", FIRST_REQUEST], cwd=ROOT, env=env, timeout=60)
    assert run.returncode == 0
    assert TrafficDay.objects.get(day=TODAY, module="faces").requests == 1


FLUSH_INTERVAL = """
import django
django.setup()
from django.conf import settings
print(settings.FINOPS_FLUSH_S)
"""


@pytest.mark.parametrize(("function_name", "seconds"), [("portal-production", 10), ("", 60)])
def test_counts_are_written_more_often_on_lambda(function_name, seconds):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env.pop("FINOPS_FLUSH_S", None)
    env["AWS_LAMBDA_FUNCTION_NAME"] = function_name
    run = subprocess.run(
        [sys.executable, "-c", FLUSH_INTERVAL],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert run.stdout.split()[-1] == str(seconds)


@pytest.mark.parametrize(
    ("path", "module"),
    [
        ("/netprobe/", "netprobe"),
        ("/api/netprobe/probes/", "netprobe"),
        ("/sos/contacts/", "sos"),
        ("/api/faces/nothing-here/", "faces"),
        ("/accounts/login/", "portal"),
        ("/api/me/", "portal"),
        ("/nothing/", "portal"),
    ],
)
def test_each_request_counts_for_its_module(client, operator, counting, path, module):
    client.force_login(operator)
    client.get(path)
    assert [m for _, m in traffic.pending()] == [module]
