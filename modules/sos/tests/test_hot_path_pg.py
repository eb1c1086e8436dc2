"""PostgreSQL's hot path (outbox/pg_bulk.py): claims and outcome writes are planned once per
connection and keep working when a pooler loses the prepared statements; a dispatch pass's own
commits skip the WAL flush wait and leave the connection's setting as they found it."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from modules.sos import services
from modules.sos.channels import Sent
from modules.sos.models import Delivery
from modules.sos.outbox import dispatch as dispatch_module
from modules.sos.outbox import pg_bulk
from modules.sos.outbox.claims import Outcome, PassReport, claim_due, record_outcomes

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's hot path"),
    pytest.mark.django_db(transaction=True),  # the pass's own commits, outside a test transaction
]


@pytest.fixture(autouse=True)
def _preparing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_bulk._Preparing, "on", None)  # as a fresh worker starts
    connection.close()  # and a fresh connection: no statement prepared yet


def _raise(make_contact: Any, count: int) -> None:
    for n in range(count):
        make_contact(f"P{n}", webhook=f"https://hooks.example.com/{n}", groups=["ops"])
    services.alert_raise(message="Fire in building 2", groups=["ops"])


def _claim_and_write(limit: int) -> int:
    jobs = claim_due(now=timezone.now(), limit=limit)
    record_outcomes(
        [Outcome(job, Sent(f"id-{job.delivery_id}"), None, 5) for job in jobs],
        now=timezone.now(),
        report=PassReport(),
    )
    return len(jobs)


def _prepared() -> dict[str, int]:
    """Statement start -> times it was run (generic + custom plans), on this connection."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT left(statement, 8), generic_plans + custom_plans FROM pg_prepared_statements"
        )
        return dict(cursor.fetchall())


def test_claims_and_writes_are_prepared_once_and_reused_whatever_the_batch(make_contact):
    _raise(make_contact, 6)

    assert [_claim_and_write(limit) for limit in (1, 2, 3)] == [1, 2, 3]

    # One statement each, run three times, although each batch had another size.
    assert _prepared() == {"WITH due": 3, "WITH v A": 3}
    assert set(Delivery.objects.values_list("state", flat=True)) == {"sent"}


def test_a_pooler_that_loses_prepared_statements_loses_no_outcome(make_contact, caplog):
    _raise(make_contact, 4)
    assert _claim_and_write(1) == 1
    # What PgBouncer in transaction mode does: the next statement meets another server
    # session, where the prepared statements psycopg remembers do not exist.
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        for (name,) in cursor.fetchall():
            cursor.execute(f"DEALLOCATE {connection.ops.quote_name(name)}")

    with caplog.at_level(logging.WARNING, logger="modules.sos.dispatch"):
        assert _claim_and_write(3) == 3

    assert "prepared statement was lost" in caplog.text
    assert set(Delivery.objects.values_list("state", flat=True)) == {"sent"}
    assert _prepared() == {}  # from then on, unprepared


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def test_claims_and_outcomes_commit_asynchronously_and_nothing_else_does(make_contact, receiver):
    for name in ("Ann", "Bob"):
        make_contact(name, webhook=receiver.url(f"/{name.lower()}"), groups=["ops"])
    services.alert_raise(message="Fire in building 2", groups=["ops"])
    before = _synchronous_commit()
    statements: list[str] = []

    def watch(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        report = dispatch_module.process_due_deliveries()

    assert report.sent == 2
    relaxed = [sql for sql in statements if "set_config('synchronous_commit'" in sql]
    # The claim and the outcome write, each for its own transaction only ...
    assert {sql[:8] for sql in relaxed} == {"WITH due", "WITH v A"}
    assert all("'off', true)" in sql for sql in relaxed)
    # ... and no statement that inserts rows (a forgotten insert could reuse its id).
    assert not [sql for sql in relaxed if "INSERT INTO" in sql and "sos_alertevent" not in sql]
    assert _synchronous_commit() == before  # nothing outlives those transactions


def test_prepared_statements_can_be_turned_off_for_a_pooler(make_contact, monkeypatch):
    # DATABASE_PREPARED_STATEMENTS=false puts an explicit None in the database's OPTIONS.
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "prepare_threshold", None)
    _raise(make_contact, 3)

    assert [_claim_and_write(limit) for limit in (1, 2)] == [1, 2]

    assert _prepared() == {}
    assert set(Delivery.objects.values_list("state", flat=True)) == {"sent"}


def test_the_claim_takes_exactly_the_rows_the_due_queryset_names(make_contact):
    _raise(make_contact, 6)
    now = timezone.now()
    rows = list(Delivery.objects.order_by("id"))
    later, failed, leased = rows[0], rows[1], rows[2]
    Delivery.objects.filter(pk=later.pk).update(next_attempt_at=now + timedelta(hours=1))
    Delivery.objects.filter(pk=failed.pk).update(state="failed", next_attempt_at=None)
    Delivery.objects.filter(pk=leased.pk).update(state="sending", lease_until=now)
    due = set(Delivery.objects.due(now).values_list("id", flat=True))

    claimed = {job.delivery_id for job in claim_due(now=now, limit=100)}

    assert claimed == due
    assert len(due) == 3
