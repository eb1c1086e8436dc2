"""PostgreSQL: claims and outcome writes in one statement each, on the worker's hot path.

The ORM spelled a batch of outcomes as SELECT ... FOR UPDATE with one OR term per row, an UPDATE
with a CASE per column, an INSERT of the events and an UPDATE of the contact methods, between
BEGIN and COMMIT; a claim took five round trips as well. On a busy host those round trips were
most of a worker's time, while its send threads waited for their outcome to be written. Here a
join against a VALUES list does the per-row work, `RETURNING` tells which rows the claim still
held, and data-modifying CTEs keep the event and the contact method in the same statement, so
the lease check and every write stay one transaction. Raw SQL lives only in this module; only
the models' own table and column names are spliced in, every value is a parameter.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from django.db import connection
from django.utils import timezone

from modules.sos.models import Alert, AlertEvent, ContactMethod, Delivery, Kind, SmsOptOut

State = Delivery.State


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
    others as stale. Five round trips (BEGIN, UPDATE, INSERT, UPDATE, COMMIT) were most of
    a worker's time on a busy host."""
    quote = connection.ops.quote_name
    names = sorted(writes[0].change)
    fields = [Delivery._meta.get_field(name) for name in names]
    data = AlertEvent._meta.get_field("data")
    types = [
        "bigint",
        "varchar",
        *(field.db_type(connection) for field in fields),
        "bigint",
        "varchar",
        "jsonb",
        "bigint",
        "boolean",
        "text",
    ]
    columns = ["id", "token", *(f"v_{f.column}" for f in fields)]
    columns += ["alert_id", "text", "data", "method_id", "ok", "error"]
    row_sql = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
    assignments = ", ".join(
        [
            *(f"{quote(f.column)} = v.{quote('v_' + f.column)}" for f in fields),
            "lease_token = '', lease_until = NULL, updated_at = %s",
        ]
    )
    delivery, event, method = (
        quote(model._meta.db_table) for model in (Delivery, AlertEvent, ContactMethod)
    )
    sql = (
        f"WITH v ({', '.join(quote(c) for c in columns)}) AS "  # noqa: S608 (names only)
        f"(VALUES {', '.join([row_sql] * len(writes))}), "
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
        "WHERE v.method_id IS NOT NULL) AS x WHERE m.id = x.method_id) "
        "SELECT id, token FROM held"
    )
    params: list[Any] = []
    for write in writes:
        ok = write.method is not None and write.method[1] is None
        params += [write.delivery_id, write.lease_token]
        params += [f.get_db_prep_save(write.change[f.name], connection) for f in fields]
        params += [write.alert_id, write.text, data.get_db_prep_save(write.data, connection)]
        params += [write.method[0] if write.method else None, ok]
        params.append("" if ok or write.method is None else write.method[1])
    params += [timezone.now(), State.SENDING, AlertEvent.Kind.ATTEMPT, timezone.now(), now, now]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {(pk, token) for (pk, token) in cursor.fetchall()}


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
        f"updated_at = %s FROM due WHERE d.id = due.id RETURNING {returned}) "
        f"SELECT {selected} FROM claimed AS c "
        f"JOIN {table(Alert._meta.db_table)} AS a ON a.id = c.alert_id "
        f"LEFT JOIN {table(ContactMethod._meta.db_table)} AS m ON m.id = c.method_id "
        f"LEFT JOIN {table(SmsOptOut._meta.db_table)} AS o "
        "ON m.kind = %s AND m.address <> '' AND o.number = m.address "
        "ORDER BY c.priority, c.next_attempt_at, c.id"
    )
    params = [State.PENDING, now, limit, State.SENDING, token, lease_until, now, timezone.now()]
    params.append(Kind.SMS)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [_row(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]


def _row(values: dict[str, Any]) -> SimpleNamespace:
    alert = {k.removeprefix("alert__"): v for k, v in values.items() if k.startswith("alert__")}
    method = {k.removeprefix("method__"): v for k, v in values.items() if k.startswith("method__")}
    delivery = {k: v for k, v in values.items() if "__" not in k}
    return SimpleNamespace(
        pk=delivery["id"],
        **delivery,
        alert=SimpleNamespace(pk=delivery["alert_id"], **alert),
        method=None if method["is_enabled"] is None else SimpleNamespace(**method),
    )
