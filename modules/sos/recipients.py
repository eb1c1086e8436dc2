"""Who an alert reaches: groups, contacts and methods resolved to one row per contact method."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modules.sos.errors import UnknownRecipient
from modules.sos.lanes import delivery_priority
from modules.sos.models import Alert, Contact, ContactMethod, Delivery, Group, Kind
from portal.ids import MAX_ID, parse_id


@dataclass(frozen=True)
class Recipient:
    contact: Contact
    method: ContactMethod

    def as_dict(self) -> dict[str, Any]:
        return {
            "contact": self.contact.pk,
            "contact_name": self.contact.name,
            "method": self.method.pk,
            "kind": self.method.kind,
            "address": self.method.display_address,
        }


def _lookup(model: type, items: Iterable[Any], what: str) -> list[Any]:
    objects: list[Any] = []
    ids: set[int] = set()
    names: set[str] = set()
    unknown: list[str] = []
    for item in items:
        if isinstance(item, model):
            objects.append(item)
            continue
        if isinstance(item, str) and not item.strip().isdecimal():
            if "\x00" in item:  # PostgreSQL cannot even compare it: no name has one
                unknown.append(repr(item))
            else:
                names.add(item.strip())
            continue
        pk = item if isinstance(item, int) else parse_id(str(item))
        if pk is not None and 0 < pk <= MAX_ID:
            ids.add(pk)
        else:
            unknown.append(str(item).strip())
    if ids:
        found = {o.pk: o for o in model.objects.filter(pk__in=ids)}
        objects += list(found.values())
        unknown += [str(i) for i in sorted(ids - set(found))]
    if names and hasattr(model, "name"):
        found_names = {o.name.lower(): o for o in model.objects.filter(name__in=names)}
        for name in names:
            match = found_names.get(name.lower()) or model.objects.filter(name__iexact=name).first()
            if match is None:
                unknown.append(name)
            else:
                objects.append(match)
    elif names:
        unknown += sorted(names)
    if unknown:
        raise UnknownRecipient(
            f"Unknown {what}: {', '.join(unknown)}", details={"field": what, "unknown": unknown}
        )
    return list({o.pk: o for o in objects}.values())


def lookup_groups(items: Iterable[Group | int | str]) -> list[Group]:
    return _lookup(Group, items, "groups")


def resolve_recipients(
    *,
    groups: Sequence[Group | int | str] = (),
    contacts: Sequence[Contact | int | str] = (),
    methods: Sequence[ContactMethod | int] = (),
    channels: Sequence[str] | None = None,
    include_disabled: bool = False,
) -> list[Recipient]:
    """One recipient per contact method; the same address reached once even if listed twice."""
    group_objs = lookup_groups(groups)
    contact_objs = _lookup(Contact, contacts, "contacts")
    method_objs = _lookup(ContactMethod, methods, "methods")
    contact_ids = {c.pk for c in contact_objs}
    if group_objs:
        contact_ids |= set(
            Contact.objects.filter(groups__in=group_objs).values_list("id", flat=True)
        )
    found: list[ContactMethod] = []
    if contact_ids:
        qs = ContactMethod.objects.filter(
            contact_id__in=contact_ids, contact__is_active=True, is_enabled=True
        )
        if channels:
            qs = qs.filter(kind__in=channels)
        found += list(qs.select_related("contact"))
    if method_objs:
        explicit = ContactMethod.objects.filter(pk__in=[m.pk for m in method_objs])
        if not include_disabled:
            explicit = explicit.filter(is_enabled=True, contact__is_active=True)
        if channels:
            explicit = explicit.filter(kind__in=channels)
        found += list(explicit.select_related("contact"))
    seen: set[tuple[str, str]] = set()
    recipients: list[Recipient] = []
    for method in sorted(found, key=lambda m: (m.contact.name.lower(), m.kind, m.pk)):
        key = (method.kind, _normal(method.kind, method.address))
        if key in seen:
            continue
        seen.add(key)
        recipients.append(Recipient(contact=method.contact, method=method))
    return recipients


def _normal(kind: str, address: str) -> str:
    return address.strip().lower() if kind == Kind.EMAIL else address.strip()


def build_deliveries(
    alert: Alert, recipients: Sequence[Recipient], *, now: datetime, escalation: bool = False
) -> list[Delivery]:
    return [
        Delivery(
            alert=alert,
            method=r.method,
            contact=r.contact,
            contact_name=r.contact.name,
            kind=r.method.kind,
            address=r.method.address,
            priority=delivery_priority(alert.severity, resend=escalation),  # lanes.py
            escalation=escalation,
            next_attempt_at=now,
        )
        for r in recipients
    ]
