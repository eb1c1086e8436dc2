"""PostgreSQL: claims and outcome writes in one statement each, on the worker's hot path.

The ORM spelled a batch of outcomes as SELECT ... FOR UPDATE with one OR term per row, an UPDATE
with a CASE per column, an INSERT of the events and an UPDATE of the contact methods, between
BEGIN and COMMIT; a claim took five round trips as well. On a busy host those round trips were
most of a worker's time, while its send threads waited for their outcome to be written. Here a
join against the outcomes (one JSON document, read as rows) does the per-row work, `RETURNING`
tells which rows the claim still held, and data-modifying CTEs keep the event and the contact
method in the same statement, so the lease check and every write stay one transaction. Both
statements are prepared once per connection. Raw SQL lives only in this module; only the
models' own table and column names are spliced in, every value is a parameter.
"""

from __future__ import annotations

import functools
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import psycopg
import psycopg.errors
from django.db import DatabaseError, connection
from django.utils import timezone

from modules.sos.models import Alert, AlertEvent, ContactMethod, Delivery, Kind, SmsOptOut

State = Delivery.State
logger = logging.getLogger("modules.sos.dispatch")


# Joined into the claim and the outcome write: their own transaction commits without waiting
# for the WAL flush (PostgreSQL's synchronous_commit = off, for that transaction only, so no
# setting outlives it, behind a pooler either). Each commit is still all or nothing; a database
# crash can only forget the last moment of them (3 x wal_writer_delay, 0.6 s by default), and
# what these two write is work the rows say to redo: a forgotten claim leaves its row due, a
# forgotten outcome leaves its row leased until the lease runs out, so such a crash re-sends
# those messages (the same Message-ID and Idempotency-Key) and never loses one. No delivery or
# alert is created this way: a forgotten insert could hand its id (and so its keys and ack
# links) out again; the attempt events the outcome write inserts are the database's own log,
# whose ids nothing outside keeps. The flush wait was a third of a write's time, while every
# send thread waited for it.
_ASYNC_COMMIT = "async_commit AS (SELECT set_config('synchronous_commit', 'off', true))"


def update_leased(rows: list[tuple[int, str, dict[str, Any]]]) -> set[int]:
    """Apply `(delivery id, lease token, changes)` to the rows still `sending` under that lease
    token, and give their leases up; returns the ids that were updated."""
    groups: dict[tuple[str, ...], list[tuple[int, str, dict[str, Any]]]] = defaultdict(list)
    for row in rows:
        groups[tuple(sorted(row[2]))].append(row)
    held: set[int] = set()
    with connection.cursor() as cursor:
        for names, members in groups.items():
            cursor.execute(*_statement(names, members))
            held.update(pk for (pk,) in cursor.fetchall())
    return held


def _statement(
    names: tuple[str, ...], rows: list[tuple[int, str, dict[str, Any]]]
) -> tuple[str, list[Any]]:
    quote = connection.ops.quote_name
    fields = [Delivery._meta.get_field(name) for name in names]
    # Typed placeholders: a column that is NULL in every row would otherwise be text.
    types = ["bigint", "varchar", *(field.db_type(connection) for field in fields)]
    row_sql = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
    columns = ", ".join(["id", "token", *(quote(f"v_{field.column}") for field in fields)])
    assignments = ", ".join(
        [
            *(f"{quote(field.column)} = v.{quote('v_' + field.column)}" for field in fields),
            f"{quote('lease_token')} = ''",
            f"{quote('lease_until')} = NULL",
            f"{quote('updated_at')} = %s",
        ]
    )
    # Only the model's own table and column names are spliced in; values are parameters.
    sql = (
        f"UPDATE {quote(Delivery._meta.db_table)} AS d SET {assignments} "  # noqa: S608
        f"FROM (VALUES {', '.join([row_sql] * len(rows))}) AS v({columns}) "
        f"WHERE d.id = v.id AND d.{quote('lease_token')} = v.token AND d.{quote('state')} = %s "
        "RETURNING d.id"
    )
    params: list[Any] = [timezone.now()]  # updated_at, as DeliveryQuerySet.update() stamps it
    for pk, token, change in rows:
        params += [pk, token]
        params += [field.get_db_prep_save(change[field.name], connection) for field in fields]
    params.append(State.SENDING)
    # The SET placeholder comes first in the text, then the VALUES rows, then the state.
    return sql, params


@dataclass(frozen=True)
class HeldWrite:
    """One outcome as written if its lease is still held: the row's change, the attempt's event,
    and the mark on the contact method ((id, None) worked, (id, error) failed, None nothing)."""

    delivery_id: int
    lease_token: str
    change: dict[str, Any]
    alert_id: int
    text: str
    data: dict[str, Any]
    method: tuple[int, str | None] | None


def write_outcomes(writes: list[HeldWrite], *, now: datetime) -> set[tuple[int, str]]:
    """Write outcomes whose changes name the same columns, in ONE statement (so one round
    trip and its own transaction): the rows still `sending` under their lease token get their
    change and give the lease up, and for exactly those rows the attempt's AlertEvent is
    inserted and the contact method marked. Returns the (id, token)s written; the caller logs the
    others as stale.

    The rows travel as one JSON document, so the statement's text depends only on the columns
    changed: it is prepared once per connection and its plan reused (_execute), and encoding
    the values is one call to the C JSON encoder, not one adapter per value."""
    names = tuple(sorted(writes[0].change))
    fields = [Delivery._meta.get_field(name) for name in names]
    rows = [
        {
            "id": write.delivery_id,
            "token": write.lease_token,
            **{f"v_{f.column}": write.change[f.name] for f in fields},
            "alert_id": write.alert_id,
            "text": write.text,
            "data": write.data,
            "method_id": write.method[0] if write.method else None,
            "ok": write.method is not None and write.method[1] is None,
            "error": (write.method[1] if write.method else None) or "",
        }
        for write in writes
    ]
    params = [
        json.dumps(rows, default=_iso),
        timezone.now(),
        State.SENDING,
        AlertEvent.Kind.ATTEMPT,
        timezone.now(),
        now,
        now,
    ]
    return {(pk, token) for (pk, token) in _execute(_write_sql(names), params)}


@functools.cache
def _write_sql(names: tuple[str, ...]) -> str:
    quote = connection.ops.quote_name
    fields = [Delivery._meta.get_field(name) for name in names]
    record = ", ".join(
        [
            "id bigint",
            "token varchar",
            *(f"{quote('v_' + f.column)} {_base_type(f.db_type(connection))}" for f in fields),
            "alert_id bigint",
            "text text",
            "data jsonb",
            "method_id bigint",
            "ok boolean",
            "error text",
        ]
    )
    assignments = ", ".join(
        [
            # An explicit cast cuts a value to the column's length (an assignment would fail).
            *(
                f"{quote(f.column)} = v.{quote('v_' + f.column)}::{f.db_type(connection)}"
                for f in fields
            ),
            "lease_token = '', lease_until = NULL, updated_at = %s",
        ]
    )
    delivery, event, method = (
        quote(model._meta.db_table) for model in (Delivery, AlertEvent, ContactMethod)
    )
    return (
        f"WITH v AS (SELECT * FROM jsonb_to_recordset(%s::jsonb) AS v({record})), "  # noqa: S608
        f"held AS (UPDATE {delivery} AS d SET {assignments} FROM v "
        "WHERE d.id = v.id AND d.lease_token = v.token AND d.state = %s "
        "RETURNING v.id, v.token), "
        f"events AS (INSERT INTO {event} (alert_id, delivery_id, kind, message, data, created_at) "
        "SELECT v.alert_id, v.id, %s, v.text, v.data, %s FROM v "
        "JOIN held ON held.id = v.id AND held.token = v.token "
        "ORDER BY v.id), "
        f"methods AS (UPDATE {method} AS m SET "
        "last_success_at = CASE WHEN x.ok THEN %s ELSE m.last_success_at END, "
        "last_error = x.error, "
        "last_error_at = CASE WHEN x.ok THEN m.last_error_at ELSE %s END "
        "FROM (SELECT v.method_id, v.ok, v.error FROM v "
        "JOIN held ON held.id = v.id AND held.token = v.token "
        "WHERE v.method_id IS NOT NULL) AS x WHERE m.id = x.method_id), "
        f"{_ASYNC_COMMIT} "
        "SELECT held.id, held.token FROM held CROSS JOIN async_commit"
    )


def _base_type(sql_type: str) -> str:
    """varchar(300) -> varchar: the JSON record takes the whole value; the SET cuts it."""
    return sql_type.split("(")[0]


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()  # to the microsecond; PostgreSQL reads it as timestamptz
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class _Preparing:
    """Whether the hot-path statements are prepared (see _execute): on unless the project's
    DATABASES OPTIONS set `prepare_threshold: None`, or the connection loses them (a pooler)."""

    on: bool | None = None

    @classmethod
    def wanted(cls) -> bool:
        if cls.on is None:
            options = connection.settings_dict.get("OPTIONS", {})
            cls.on = not ("prepare_threshold" in options and options["prepare_threshold"] is None)
        return cls.on


class _PreparedCursor(psycopg.Cursor):
    """Binds on the server and prepares each statement on first use."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        return super().execute(query, params, prepare=_Preparing.wanted())


# A pooler in transaction mode hands another server connection over (PgBouncer before 1.21),
# or a migration changed a table under a prepared statement.
_LOST = (
    psycopg.errors.InvalidSqlStatementName,
    psycopg.errors.DuplicatePreparedStatement,
    psycopg.errors.FeatureNotSupported,  # "cached plan must not change result type"
    psycopg.errors.ProtocolViolation,  # another client's statement of the same name
)


def _execute(sql: str, params: list[Any], *, again: bool = True) -> list[tuple[Any, ...]]:
    """Run one hot-path statement prepared, through Django's cursor wrapper (its errors are
    Django's, and it shows in connection.queries).

    Django's own cursors bind every value into the text and never prepare, so each claim and
    write was parsed and planned anew, which cost the database more than running it; here the
    text depends only on the columns written (the rows travel as one JSON document), and its
    plan is kept for the connection's life."""
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None and _Preparing.wanted():
        # Django turns psycopg's preparing off; a threshold no statement reaches leaves it to
        # the statements that ask (Django's client-side cursors never prepare).
        raw.prepare_threshold = 2**31 - 1
    cursor = _PreparedCursor(raw)
    wrapped = (
        connection.make_debug_cursor(cursor)
        if connection.queries_logged
        else connection.make_cursor(cursor)
    )
    try:
        with wrapped:
            wrapped.execute(sql, params)
            return wrapped.fetchall()
    except DatabaseError as exc:
        if not (again and isinstance(exc.__cause__, _LOST)) or connection.in_atomic_block:
            raise
        logger.warning("SOS dispatch: a prepared statement was lost (%s); reconnecting", exc)
        if not isinstance(exc.__cause__, psycopg.errors.FeatureNotSupported):
            _Preparing.on = False
        connection.close()
    return _execute(sql, params, again=False)


_DELIVERY = [
    "id",
    "lease_token",
    "attempts",
    "round",
    "kind",
    "address",
    "contact_name",
    "method_id",
    "escalation",
    "lease_until",
    "priority",
    "next_attempt_at",
    "alert_id",
]
_ALERT = [
    "status",
    "message",
    "severity",
    "is_test",
    "require_ack",
    "source",
    "created_at",
    "latitude",
    "longitude",
    "accuracy_m",
]
_METHOD = ["is_enabled", "secret"]


def claim_rows(
    *, now: datetime, limit: int, token: str, lease_until: datetime
) -> list[SimpleNamespace]:
    """Lease up to `limit` due rows and read them with their alert and contact method, in one
    statement (in queue order): a claim costs one round trip instead of five (BEGIN, SELECT
    ... FOR UPDATE SKIP LOCKED, UPDATE, COMMIT, SELECT with joins). Each row reads like a
    Delivery fetched with select_related("alert", "method") (`method` None when deleted)."""
    table = connection.ops.quote_name
    selected = ", ".join(
        [
            *(f"c.{table(name)}" for name in _DELIVERY),
            *(f"a.{table(name)} AS alert__{name}" for name in _ALERT),
            *(f"m.{table(name)} AS method__{name}" for name in _METHOD),
            "o.opted_out_at AS method__opted_out_at",  # ContactMethod.opted_out_at's question
        ]
    )
    returned = ", ".join(f"d.{table(name)}" for name in _DELIVERY)
    sql = (
        f"WITH due AS (SELECT id FROM {table(Delivery._meta.db_table)} "  # noqa: S608 (names only)
        "WHERE state = %s AND next_attempt_at <= %s ORDER BY priority, next_attempt_at "
        "LIMIT %s FOR UPDATE SKIP LOCKED), "
        f"claimed AS (UPDATE {table(Delivery._meta.db_table)} AS d SET state = %s, "
        "lease_token = %s, lease_until = %s, attempts = d.attempts + 1, last_attempt_at = %s, "
        f"updated_at = %s FROM due WHERE d.id = due.id RETURNING {returned}), "
        f"{_ASYNC_COMMIT} "
        f"SELECT {selected} FROM claimed AS c CROSS JOIN async_commit "
        f"JOIN {table(Alert._meta.db_table)} AS a ON a.id = c.alert_id "
        f"LEFT JOIN {table(ContactMethod._meta.db_table)} AS m ON m.id = c.method_id "
        f"LEFT JOIN {table(SmsOptOut._meta.db_table)} AS o "
        "ON m.kind = %s AND m.address <> '' AND o.number = m.address "
        "ORDER BY c.priority, c.next_attempt_at, c.id"
    )
    params = [State.PENDING, now, limit, State.SENDING, token, lease_until, now, timezone.now()]
    params.append(Kind.SMS)
    return [_row(row) for row in _execute(sql, params)]


_METHOD_COLUMNS = [*_METHOD, "opted_out_at"]


def _row(row: tuple[Any, ...]) -> SimpleNamespace:
    """The claim's columns in their SELECT order: the delivery's, its alert's, its method's."""
    cut, end = len(_DELIVERY), len(_DELIVERY) + len(_ALERT)
    delivery = dict(zip(_DELIVERY, row[:cut], strict=True))
    alert = dict(zip(_ALERT, row[cut:end], strict=True))
    method = dict(zip(_METHOD_COLUMNS, row[end:], strict=True))
    return SimpleNamespace(
        pk=delivery["id"],
        **delivery,
        alert=SimpleNamespace(pk=delivery["alert_id"], **alert),
        method=None if method["is_enabled"] is None else SimpleNamespace(**method),
    )
