"""Contact, contact-method and group workflows, including the CSV import of contacts."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction

from modules.sos.channels.sms import normalize_phone
from modules.sos.errors import AppriseNotAllowed, CsvInvalid, InvalidAddress
from modules.sos.models import Contact, ContactMethod, Group, Kind
from portal.egress import EgressForbidden, EgressResolveError, get_policy

MAX_CSV_ROWS = 10_000
CSV_COLUMNS = ("name", "email", "phone", "webhook", "groups", "notes")


def validate_address(kind: str, address: str, *, allow_apprise: bool = False) -> str:
    """The address in canonical form; raises InvalidAddress, AppriseNotAllowed or
    EgressForbidden (a webhook whose host resolves where the egress policy refuses)."""
    address = (address or "").strip()
    if not address:
        raise InvalidAddress("The address is required.", details={"field": "address"})
    if kind == Kind.EMAIL:
        try:
            validate_email(address)
        except ValidationError:
            raise InvalidAddress(
                f"{address!r} is not a valid email address.", details={"field": "address"}
            ) from None
        local, _, domain = address.rpartition("@")
        return f"{local}@{domain.lower()}"
    if kind == Kind.SMS:
        try:
            return normalize_phone(address)
        except ValueError as exc:
            raise InvalidAddress(str(exc), details={"field": "address"}) from None
    if kind == Kind.WEBHOOK:
        try:
            URLValidator(schemes=["http", "https"])(address)
        except ValidationError:
            raise InvalidAddress(
                "Enter an http:// or https:// URL.", details={"field": "address"}
            ) from None
        parts = urlsplit(address)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        # A name that does not resolve now cannot be judged now; every send judges it again.
        with contextlib.suppress(EgressResolveError):
            get_policy().resolve(parts.hostname or "", port)
        return address
    if kind == Kind.APPRISE:
        if not allow_apprise:
            raise AppriseNotAllowed("Only admins (staff) configure Apprise contact methods.")
        import apprise

        from modules.sos.channels.apprise import check_apprise_host

        if not apprise.Apprise().add(address):
            raise InvalidAddress("Not a valid Apprise URL.", details={"field": "address"})
        with contextlib.suppress(EgressResolveError):
            check_apprise_host(address, get_policy())
        return address
    raise InvalidAddress(f"Unknown kind {kind!r}.", details={"field": "kind"})


def contact_method_add(
    *,
    contact: Contact,
    kind: str,
    address: str,
    label: str = "",
    is_enabled: bool = True,
    allow_apprise: bool = False,
) -> ContactMethod:
    address = validate_address(kind, address, allow_apprise=allow_apprise)
    if ContactMethod.objects.filter(contact=contact, kind=kind, address=address).exists():
        raise InvalidAddress(
            f"{contact.name} already has this {kind} address.", details={"field": "address"}
        )
    return ContactMethod.objects.create(
        contact=contact, kind=kind, address=address, label=label[:100], is_enabled=is_enabled
    )


def contact_method_update(
    *, method: ContactMethod, allow_apprise: bool = False, **changes: Any
) -> ContactMethod:
    if "address" in changes or "kind" in changes:
        kind = changes.get("kind", method.kind)
        changes["address"] = validate_address(
            kind, changes.get("address", method.address), allow_apprise=allow_apprise
        )
    for name, value in changes.items():
        setattr(method, name, value)
    method.save()
    return method


@transaction.atomic
def contact_create(
    *,
    name: str,
    notes: str = "",
    is_active: bool = True,
    methods: Sequence[dict[str, Any]] = (),
    groups: Sequence[Group] = (),
    allow_apprise: bool = False,
) -> Contact:
    contact = Contact.objects.create(name=name.strip(), notes=notes, is_active=is_active)
    for method in methods:
        contact_method_add(contact=contact, allow_apprise=allow_apprise, **method)
    if groups:
        contact.groups.set(groups)
    return contact


def group_create(*, name: str, description: str = "", members: Iterable[Contact] = ()) -> Group:
    group = Group.objects.create(name=name.strip(), description=description)
    group.members.set(list(members))
    return group


def group_set_members(*, group: Group, contacts: Iterable[Contact]) -> Group:
    group.members.set(list(contacts))
    return group


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
    reader = csv.DictReader(io.StringIO(data.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "name" not in header:
        raise CsvInvalid(
            f"The CSV needs a header row with a 'name' column (columns: {', '.join(CSV_COLUMNS)}).",
            details={"columns": header},
        )
    rows: list[_Row] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for raw in reader:
        cells = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        line = reader.line_num
        if len(rows) + len(errors) >= MAX_CSV_ROWS:
            raise CsvInvalid(f"The CSV has more than {MAX_CSV_ROWS} rows.")
        name = cells.get("name", "")
        problems: list[str] = []
        if not name:
            problems.append("name is empty")
        elif name.lower() in seen:
            problems.append(f"{name!r} appears twice in the file")
        seen.add(name.lower())
        methods: list[tuple[str, str]] = []
        for column, kind in (("email", Kind.EMAIL), ("phone", Kind.SMS), ("webhook", Kind.WEBHOOK)):
            for value in _split(cells.get(column)):
                try:
                    methods.append((kind, validate_address(kind, value)))
                except InvalidAddress as exc:
                    problems.append(f"{column}: {exc.message}")
                except EgressForbidden as exc:
                    problems.append(f"{column}: {exc}")
        if problems:
            errors.append({"line": line, "name": name, "errors": problems})
        else:
            rows.append(
                _Row(line, name, cells.get("notes", ""), methods, _split(cells.get("groups")))
            )
    return rows, errors


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
    groups = {g.name.lower(): g for g in Group.objects.all()}
    with transaction.atomic():
        for row in rows:
            contact = Contact.objects.filter(name__iexact=row.name).first()
            if contact is None:
                contact = Contact.objects.create(name=row.name, notes=row.notes)
                report.created += 1
            else:
                report.updated += 1
            have = set(contact.methods.values_list("kind", "address"))
            for kind, address in row.methods:
                if (kind, address) not in have:
                    ContactMethod.objects.create(contact=contact, kind=kind, address=address)
                    have.add((kind, address))
                    report.methods_added += 1
            for group_name in row.groups:
                group = groups.get(group_name.lower())
                if group is None:
                    if not create_groups:
                        raise CsvInvalid(f"Line {row.line}: unknown group {group_name!r}.")
                    group = groups[group_name.lower()] = Group.objects.create(name=group_name)
                    report.groups_created += 1
                group.members.add(contact)
    return report
