"""On the embedded SQLite default, concurrent readers and writers wait for each other instead of
failing with "database is locked": threads of one process (the dev server, the SOS worker) and
separate processes (the web process beside a management command)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from modules.sos.models import Group

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
    reason="SQLite's locking only",
)


def _hold_a_write(started: threading.Event, release: threading.Event) -> None:
    try:
        with transaction.atomic():
            Group.objects.create(name="held")
            started.set()
            release.wait(10)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_a_reader_is_not_refused_while_another_connection_writes():
    started, release = threading.Event(), threading.Event()
    writer = threading.Thread(target=_hold_a_write, args=(started, release))
    writer.start()
    try:
        assert started.wait(10)
        assert not Group.objects.filter(name="held").exists()  # the committed state, at once
    finally:
        release.set()
        writer.join(10)
    assert Group.objects.filter(name="held").exists()


@pytest.mark.django_db(transaction=True)
def test_a_second_writer_waits_for_the_first_to_commit():
    started, release = threading.Event(), threading.Event()
    writer = threading.Thread(target=_hold_a_write, args=(started, release))
    writer.start()
    try:
        assert started.wait(10)
        threading.Timer(0.5, release.set).start()
        with transaction.atomic():
            seen = Group.objects.count()
            Group.objects.create(name="second")
    finally:
        release.set()
        writer.join(10)
    assert seen == 1  # began after the first writer committed
    assert set(Group.objects.values_list("name", flat=True)) == {"held", "second"}


WRITER = """
import time
import django
django.setup()
from django.db import connection, transaction
time.sleep(max(0.0, {start_at} - time.time()))  # both processes start writing together
for i in range({rounds}):
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT n FROM counter")
            (n,) = cursor.fetchone()
            cursor.execute("UPDATE counter SET n = %s", [n + 1])
print("done")
"""


@pytest.mark.nodb
def test_two_processes_that_read_then_write_both_finish(tmp_path):
    # A read followed by a write in one transaction is what a form save or a delivery claim
    # does; in a deferred transaction the second process's upgrade to writer is refused.
    database = tmp_path / "db.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DEBUG="1",
        DATABASE_URL=f"sqlite:///{database}",
    )
    # In WAL mode already, as `migrate` leaves a new database: turning a file into WAL takes an
    # exclusive lock that two first connections racing for it cannot wait out.
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript("CREATE TABLE counter (n INTEGER); INSERT INTO counter VALUES (0);")
    rounds, start_at = 300, time.time() + 3
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER.format(rounds=rounds, start_at=start_at)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [process.communicate(timeout=120) for process in processes]
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err[-2000:]
        assert out.strip() == "done"
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT n FROM counter").fetchone() == (2 * rounds,)
