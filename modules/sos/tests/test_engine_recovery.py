"""Recovery while busy: a dead worker's rows are due again within a second of their lease's
end, keep their place in the queue, and go out while the others still work through the
backlog; outcomes are written right after each send, so a kill doubles at most the sends the
dead worker had in flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from modules.sos import services
from modules.sos.models import AlertEvent, Contact, ContactMethod, Delivery, Group
from modules.sos.outbox.claims import claim_due, requeue_expired_leases

ROOT = Path(__file__).resolve().parents[3]


def test_a_reclaimed_row_keeps_its_place_before_rows_that_became_due_later(make_contact, settings):
    make_contact("Ann", email="ann@example.com", groups=["first"])
    make_contact("Bob", email="bob@example.com", groups=["later"])
    now = timezone.now()
    first = services.alert_raise(message="Fire", groups=["first"], now=now).alert
    services.alert_raise(message="Smoke", groups=["later"], now=now + timedelta(seconds=5))
    claim_due(now=now, limit=1)  # a worker claims Ann's row, then dies
    later = now + timedelta(seconds=settings.SOS_LEASE_S + 10)
    assert requeue_expired_leases(now=later) == 1
    (job,) = claim_due(now=later, limit=1)
    assert job.alert_id == first.pk  # not behind Bob's, which was due after it


def _webhooks(count: int, url: str) -> None:
    group = Group.objects.create(name="everyone")
    contacts = Contact.objects.bulk_create([Contact(name=f"c{i:04}") for i in range(count)])
    ContactMethod.objects.bulk_create(
        [
            ContactMethod(contact=c, kind="webhook", address=f"{url}?n={i}")
            for i, c in enumerate(contacts)
        ]
    )
    group.members.set(contacts)


@pytest.mark.slow
def test_a_dead_workers_row_is_sent_during_a_busy_pass_not_after_it(
    make_contact, receiver, settings
):
    from modules.sos.outbox.dispatch import process_due_deliveries

    arrived: list[tuple[str, float]] = []

    def slow(request: Any) -> None:
        arrived.append((request.headers["Idempotency-Key"], time.monotonic()))
        time.sleep(0.1)

    receiver.on_request = slow
    _webhooks(60, receiver.url())
    raised = timezone.now() - timedelta(seconds=settings.SOS_LEASE_S)
    alert = services.alert_raise(message="Fire", groups=["everyone"], now=raised).alert
    # A worker claimed the first row 0.5 s before its lease ends, then died (it is due again
    # a SEND_MARGIN_S after that: another host's clock may run ahead).
    (orphan,) = claim_due(now=raised + timedelta(seconds=0.5), limit=1)
    expires = time.monotonic() + (orphan.lease_until - timezone.now()).total_seconds()
    report = process_due_deliveries(workers=2)  # about 3 s of backlog
    assert report.expired == 1
    assert alert.deliveries.filter(state="sent").count() == 60
    keys = [key for key, _ in arrived]
    assert Counter(keys)[orphan.idempotency_key] == 1
    at = dict(arrived)[orphan.idempotency_key]
    assert at <= expires + 2
    assert keys.index(orphan.idempotency_key) < len(keys) - 10  # the backlog went on after it


# --- real worker processes, one of them killed --------------------------------------------------


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user, host, port = db["USER"], db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def _worker(threads: int, lease_s: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DEBUG="1",
        DATABASE_URL=_database_url(),
        EGRESS_ALLOWED_NETWORKS="127.0.0.0/8",
        SOS_WAKE="none",
        SOS_LEASE_S=str(lease_s),
        SOS_SEND_TIMEOUT_S="1",
        SOS_RATE_SMS="0",  # a 3-part SMS at 1/s would not fit a 5 s lease (leases.py)
        LOG_LEVEL="warning",
    )
    return subprocess.Popen(
        [sys.executable, "manage.py", "sos_worker", "--poll", "0.2", "--workers", str(threads)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_killed_workers_rows_go_out_within_lease_plus_2s_doubling_only_its_sends_in_flight(
    receiver,
):
    threads, lease_s, count = 2, 5, 300
    arrived: list[tuple[str, float]] = []
    lock = threading.Lock()

    def slow(request: Any) -> None:
        with lock:
            arrived.append((request.headers["Idempotency-Key"], time.time()))
        time.sleep(0.06)

    receiver.on_request = slow
    _webhooks(count, receiver.url())
    alert = services.alert_raise(message="Fire", groups=["everyone"]).alert
    workers = [_worker(threads, lease_s) for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while len(arrived) < 30:
            assert time.monotonic() < deadline, "the workers did not start sending"
            time.sleep(0.01)
        workers[0].send_signal(signal.SIGKILL)
        killed = time.time()
        workers[0].wait(10)
        rows = Delivery.objects.filter(alert=alert)
        while rows.filter(state__in=["pending", "sending"]).exists():
            assert time.monotonic() < deadline + 60, "the survivor did not finish"
            time.sleep(0.1)
    finally:
        for process in workers:
            process.kill()
            process.wait(10)
    assert rows.filter(state="sent").count() == count
    orphans = set(
        AlertEvent.objects.filter(alert=alert, kind="lease_expired").values_list(
            "delivery_id", flat=True
        )
    )
    assert orphans, "the killed worker held no rows"
    sent_at = {pk: at.timestamp() for pk, at in rows.values_list("id", "sent_at")}
    latest_orphan = max(sent_at[pk] for pk in orphans)
    assert latest_orphan - killed <= lease_s + 2
    assert max(sent_at.values()) > latest_orphan + 1  # the backlog was still going on
    receipts = Counter(key for key, _ in arrived)
    assert len(receipts) == count
    doubled = {key for key, n in receipts.items() if n > 1}
    assert len(doubled) <= threads  # at most one send in flight per thread of the dead worker
    assert doubled <= {f"sos-{pk}-0" for pk in orphans}
