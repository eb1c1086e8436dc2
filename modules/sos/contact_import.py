"""The CSV import of contacts: every row checked first, then everything written in bulk.

The rules are those of the one-at-a-time services (contacts.py): contacts matched by name
whatever its case, an email address matched whatever its case, names unique whatever their
case, groups joined and created. Only the writing differs: one read each of contacts, groups and
the known contacts' methods, then bulk inserts in batches, so 10,000 rows take a few dozen
queries instead of ~8 per row (and fit API Gateway's 29 s).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction

from modules.sos.contacts import max_length, validate_address
from modules.sos.errors import CsvInvalid, InvalidAddress
from modules.sos.models import Contact, ContactMethod, Group, Kind
from portal.egress import EgressForbidden

MAX_CSV_ROWS = 10_000
CSV_COLUMNS = ("name", "email", "phone", "webhook", "groups", "notes")
BATCH = 500  # rows per INSERT (SQLite lowers it to its 999-variable limit by itself)
LOOKUP_CHUNK = 900  # ids per IN (...) list: under SQLite's oldest variable limit


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    methods_added: int = 0
    groups_created: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Row:
    line: int
    name: str
    notes: str
    methods: list[tuple[str, str]]
    groups: list[str]


def _split(cell: str | None) -> list[str]:
    return [part.strip() for part in (cell or "").replace("|", ";").split(";") if part.strip()]


def _parse(data: str) -> tuple[list[_Row], list[dict[str, Any]]]:
    if "\x00" in data:
        raise CsvInvalid("The CSV contains NUL bytes: is it really a CSV text file?")
    reader = csv.DictReader(io.StringIO(data.lstrip("\ufeff")))
    try:
        return _read(reader)
    except csv.Error as exc:  # e.g. a field longer than csv.field_size_limit()
        # line_num counts the lines read before the record that failed.
        raise CsvInvalid(
            f"After line {reader.line_num}: {exc}.", details={"after_line": reader.line_num}
        ) from None


def _read(reader: csv.DictReader) -> tuple[list[_Row], list[dict[str, Any]]]:
    name_limit, group_limit = max_length(Contact, "name"), max_length(Group, "name")
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "name" not in header:
        raise CsvInvalid(
            f"The CSV needs a header row with a 'name' column (columns: {', '.join(CSV_COLUMNS)}).",
            details={"columns": header},
        )
    rows: list[_Row] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    # One lookup per webhook host, not per row: 10,000 rows naming one receiver.
    resolved: dict[tuple[str, int], EgressForbidden | None] = {}
    for raw in reader:
        cells = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        line = reader.line_num
        if len(rows) + len(errors) >= MAX_CSV_ROWS:
            raise CsvInvalid(f"The CSV has more than {MAX_CSV_ROWS} rows.")
        name = cells.get("name", "")
        problems: list[str] = []
        if not name:
            problems.append("name is empty")
        elif len(name) > name_limit:
            problems.append(f"name is longer than {name_limit} characters")
        elif name.lower() in seen:
            problems.append(f"{name!r} appears twice in the file")
        seen.add(name.lower())
        groups = _split(cells.get("groups"))
        problems += [
            f"group {g[:20]!r}… is longer than {group_limit} characters"
            for g in groups
            if len(g) > group_limit
        ]
        methods: list[tuple[str, str]] = []
        for column, kind in (("email", Kind.EMAIL), ("phone", Kind.SMS), ("webhook", Kind.WEBHOOK)):
            for value in _split(cells.get(column)):
                try:
                    methods.append((kind, validate_address(kind, value, resolved=resolved)))
                except (InvalidAddress, EgressForbidden) as exc:
                    problems.append(f"{column}: {exc.message}")
        if problems:
            errors.append({"line": line, "name": name, "errors": problems})
        else:
            rows.append(_Row(line, name, cells.get("notes", ""), methods, groups))
    return rows, errors


def _chunks[T](items: Sequence[T], size: int = LOOKUP_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _method_key(kind: str, address: str) -> tuple[str, str]:
    """Two addresses that are the same method: email compared without case (contacts.py)."""
    return (kind, address.lower() if kind == Kind.EMAIL else address)


def contact_import_csv(*, data: str | bytes, create_groups: bool = True) -> ImportReport:
    """Create or update contacts from CSV (columns name, email, phone, webhook, groups, notes;
    several values in one cell separated by ';'). Contacts are matched by name, methods are
    added if missing, groups are joined (and created). All or nothing: any invalid row raises
    CsvInvalid with every row's problems and nothing is written.
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CsvInvalid("The CSV must be UTF-8 text.") from None
    rows, errors = _parse(data)
    if errors:
        raise CsvInvalid(
            f"{len(errors)} row(s) are invalid; nothing was imported.", details={"lines": errors}
        )
    report = ImportReport(rows=len(rows))
    try:
        with transaction.atomic():
            _write(rows, report, create_groups=create_groups)
    except IntegrityError:
        # A contact, group or method created meanwhile by someone else took a name this
        # import was about to create: nothing was written, and the same file can be sent again.
        raise CsvInvalid(
            "Contacts or groups changed while importing; nothing was imported. Try again."
        ) from None
    return report


def _write(rows: list[_Row], report: ImportReport, *, create_groups: bool) -> None:
    # Names are compared in Python (str.lower), so SQLite and PostgreSQL match the same names.
    # The first spelling in the database wins, as .first() on an iexact match did.
    contacts: dict[str, Contact] = {}
    for contact in Contact.objects.order_by("id").only("id", "name"):
        contacts.setdefault(contact.name.lower(), contact)
    groups: dict[str, Group] = {}
    for group in Group.objects.order_by("id").only("id", "name"):
        groups.setdefault(group.name.lower(), group)

    new_groups: dict[str, Group] = {}
    for row in rows:
        for name in row.groups:
            if name.lower() in groups or name.lower() in new_groups:
                continue
            if not create_groups:
                raise CsvInvalid(f"Line {row.line}: unknown group {name!r}.")
            new_groups[name.lower()] = Group(name=name)
    Group.objects.bulk_create(new_groups.values(), batch_size=BATCH)
    groups.update(new_groups)
    report.groups_created = len(new_groups)

    known = [contacts[row.name.lower()] for row in rows if row.name.lower() in contacts]
    report.updated = len(known)
    fresh = [
        Contact(name=row.name, notes=row.notes) for row in rows if row.name.lower() not in contacts
    ]
    Contact.objects.bulk_create(fresh, batch_size=BATCH)
    report.created = len(fresh)
    contacts.update({c.name.lower(): c for c in fresh})

    have: set[tuple[int, str, str]] = set()
    for ids in _chunks([c.pk for c in known]):
        for contact_id, kind, address in ContactMethod.objects.filter(
            contact_id__in=ids
        ).values_list("contact_id", "kind", "address"):
            have.add((contact_id, *_method_key(kind, address)))
    methods: list[ContactMethod] = []
    Membership = Group.members.through
    memberships: list[Any] = []
    for row in rows:
        contact = contacts[row.name.lower()]
        for kind, address in row.methods:
            key = (contact.pk, *_method_key(kind, address))
            if key in have:
                continue  # the contact already has it (or an earlier cell of this row added it)
            have.add(key)
            methods.append(ContactMethod(contact=contact, kind=kind, address=address))
        for name in dict.fromkeys(g.lower() for g in row.groups):
            memberships.append(Membership(group_id=groups[name].pk, contact_id=contact.pk))
    ContactMethod.objects.bulk_create(methods, batch_size=BATCH)
    report.methods_added = len(methods)
    # Joining a group twice is a no-op, as Group.members.add() is.
    Membership.objects.bulk_create(memberships, batch_size=BATCH, ignore_conflicts=True)
