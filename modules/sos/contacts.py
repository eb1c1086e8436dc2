"""Contact, contact-method and group workflows (the CSV import of contacts: contact_import.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction

from modules.sos.channels.sms import normalize_phone
from modules.sos.errors import (
    AppriseNotAllowed,
    DuplicateMethod,
    InvalidAddress,
    InvalidContact,
)
from modules.sos.models import Contact, ContactMethod, Group, Kind
from portal.egress import EgressForbidden, EgressResolveError, get_policy


def max_length(model: type, field: str) -> int:
    return model._meta.get_field(field).max_length  # type: ignore[attr-defined]


def validate_address(
    kind: str,
    address: str,
    *,
    allow_apprise: bool = False,
    resolved: dict[tuple[str, int], EgressForbidden | None] | None = None,
) -> str:
    """The address in canonical form; raises InvalidAddress, AppriseNotAllowed or
    EgressForbidden (a webhook whose host resolves where the egress policy refuses).
    `resolved` remembers each webhook host's verdict across calls (one CSV import)."""
    address = (address or "").strip()
    if not address:
        raise InvalidAddress("The address is required.", details={"field": "address"})
    limit = max_length(ContactMethod, "address")
    if len(address) > limit:
        raise InvalidAddress(
            f"The address is longer than {limit} characters.", details={"field": "address"}
        )
    if "\x00" in address:
        raise InvalidAddress("The address contains a NUL byte.", details={"field": "address"})
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
        key = (parts.hostname or "", port)
        if resolved is not None and key in resolved:
            if (refused := resolved[key]) is not None:
                raise refused
            return address
        try:
            # A name that does not resolve now cannot be judged now; every send judges it again.
            with contextlib.suppress(EgressResolveError):
                get_policy().resolve(*key)
        except EgressForbidden as exc:
            if resolved is not None:
                resolved[key] = exc
            raise
        if resolved is not None:
            resolved[key] = None
        return address
    if kind == Kind.APPRISE:
        if not allow_apprise:
            raise AppriseNotAllowed("Only admins (staff) configure Apprise contact methods.")
        from modules.sos.channels.apprise import (
            AppriseTargetUnknown,
            InvalidAppriseUrl,
            check_apprise_target,
            parse_apprise_url,
        )

        try:
            parse_apprise_url(address)
            with contextlib.suppress(EgressResolveError):
                check_apprise_target(address, get_policy())
        except (InvalidAppriseUrl, AppriseTargetUnknown) as exc:
            raise InvalidAddress(str(exc), details={"field": "address"}) from None
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
    """Add a contact method; raises DuplicateMethod when the contact already has the address
    (email addresses compared without case, as deliveries are), or what validate_address does."""
    address = validate_address(kind, address, allow_apprise=allow_apprise)
    _check_unique(contact, kind, address)
    return ContactMethod.objects.create(
        contact=contact, kind=kind, address=address, label=label[:100], is_enabled=is_enabled
    )


def _check_unique(contact: Contact, kind: str, address: str, *, exclude: int | None = None) -> None:
    """Raises DuplicateMethod when the contact already has the address (email addresses
    compared without case, as mail servers and deliveries treat them)."""
    lookup = "address__iexact" if kind == Kind.EMAIL else "address"
    others = ContactMethod.objects.filter(contact=contact, kind=kind, **{lookup: address})
    if others.exclude(pk=exclude).exists():
        raise DuplicateMethod(
            f"{contact.name} already has this {kind} address.", details={"field": "address"}
        )


def contact_method_update(
    *, method: ContactMethod, allow_apprise: bool = False, **changes: Any
) -> ContactMethod:
    if "address" in changes or "kind" in changes:
        kind = changes.get("kind", method.kind)
        changes["address"] = validate_address(
            kind, changes.get("address", method.address), allow_apprise=allow_apprise
        )
        _check_unique(method.contact, kind, changes["address"], exclude=method.pk)
    for name, value in changes.items():
        setattr(method, name, value)
    method.save()
    return method


def _checked_name(model: type[Contact] | type[Group], name: str, *, pk: int | None) -> str:
    """A contact or group name, stripped; unique whatever its case, since alerts and the CSV
    import look names up that way. Raises InvalidContact."""
    what = model._meta.verbose_name
    name = (name or "").strip()
    limit = max_length(model, "name")
    if not name:
        raise InvalidContact(f"The {what} name is required.", details={"field": "name"})
    if len(name) > limit:
        raise InvalidContact(
            f"The {what} name is longer than {limit} characters.", details={"field": "name"}
        )
    if "\x00" in name:
        raise InvalidContact(f"The {what} name contains a NUL byte.", details={"field": "name"})
    if pk is not None and model.objects.filter(pk=pk, name=name).exists():
        return name  # unchanged: an old near-duplicate does not block other edits
    clash = model.objects.filter(name__iexact=name).exclude(pk=pk).first()
    if clash is not None:
        raise InvalidContact(
            f"A {what} named {clash.name!r} already exists.", details={"field": "name"}
        )
    return name


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
    name = _checked_name(Contact, name, pk=None)
    contact = Contact.objects.create(name=name, notes=notes, is_active=is_active)
    for method in methods:
        contact_method_add(contact=contact, allow_apprise=allow_apprise, **method)
    if groups:
        contact.groups.set(groups)
    return contact


@transaction.atomic
def contact_update(
    *,
    contact: Contact,
    name: str | None = None,
    notes: str | None = None,
    is_active: bool | None = None,
    groups: Sequence[Group] | None = None,
    methods: Sequence[dict[str, Any]] = (),
    allow_apprise: bool = False,
) -> Contact:
    """Change what is given (None: unchanged); `groups` replaces the memberships, `methods`
    are added."""
    if name is not None:
        contact.name = _checked_name(Contact, name, pk=contact.pk)
    if notes is not None:
        contact.notes = notes
    if is_active is not None:
        contact.is_active = is_active
    contact.save()
    if groups is not None:
        contact.groups.set(groups)
    for method in methods:
        contact_method_add(contact=contact, allow_apprise=allow_apprise, **method)
    return contact


def _checked_description(description: str) -> str:
    limit = max_length(Group, "description")
    if len(description) > limit:
        raise InvalidContact(
            f"The description is longer than {limit} characters.",
            details={"field": "description"},
        )
    return description


@transaction.atomic
def group_create(*, name: str, description: str = "", members: Iterable[Contact] = ()) -> Group:
    group = Group.objects.create(
        name=_checked_name(Group, name, pk=None), description=_checked_description(description)
    )
    return group_set_members(group=group, contacts=members)


@transaction.atomic
def group_update(
    *,
    group: Group,
    name: str | None = None,
    description: str | None = None,
    members: Iterable[Contact] | None = None,
) -> Group:
    """Change what is given (None: unchanged); `members` replaces the membership."""
    if name is not None:
        group.name = _checked_name(Group, name, pk=group.pk)
    if description is not None:
        group.description = _checked_description(description)
    group.save()
    if members is not None:
        group_set_members(group=group, contacts=members)
    return group


def group_set_members(*, group: Group, contacts: Iterable[Contact]) -> Group:
    group.members.set(list(contacts))
    return group


def group_add_members(*, group: Group, contacts: Iterable[Contact]) -> Group:
    group.members.add(*contacts)
    return group
