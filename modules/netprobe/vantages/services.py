"""Vantage registry workflows (re-exported by modules.netprobe.services): keyword-only.

A vantage's URL is an outbound connection of the hub: it passes the hub's egress policy when it
is saved (a refused address raises EgressForbidden, 400 `target_forbidden`) and again on every
request (client.py). Secrets are at least 32 bytes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from modules.netprobe.models import Vantage
from modules.netprobe.vantages.locations import FieldsInvalid
from modules.netprobe.vantages.signing import check_secret
from portal.egress import EgressResolveError, get_policy
from portal.errors import PortalError

FIELDS = ("name", "region", "url", "secret", "enabled")
RESERVED = ("local", "all")  # location names that are not vantages


VantageInvalid = FieldsInvalid  # details.fields.<name>, as the API's own validation errors


class VantageInUse(PortalError):
    """Monitors name the vantage: renaming or deleting it would leave them unknown forever."""

    code = "vantage_in_use"
    status = 409


def vantage_users(*, name: str) -> list[str]:
    """The names of the monitors whose locations name the vantage `name` (not via "all")."""
    from modules.netprobe.models import Monitor

    # In Python: JSON containment has no SQLite lookup, and monitors are few.
    rows = Monitor.objects.exclude(locations=[]).values_list("name", "locations")
    return sorted(n for n, locations in rows if isinstance(locations, list) and name in locations)


def vantage_in_use_check(*, vantage: Vantage, doing: str) -> None:
    users = vantage_users(name=vantage.name)
    if users:
        shown = ", ".join(repr(u) for u in users[:5]) + (" ..." if len(users) > 5 else "")
        raise VantageInUse(
            f"Cannot {doing} vantage {vantage.name!r}: {len(users)} monitor(s) name it "
            f"({shown}); change their locations first, or disable it instead.",
            details={"monitors": users},
        )


def vantage_clean(
    *, name: str | None = None, url: str | None = None, secret: str | None = None
) -> None:
    """Check a name, a URL and a secret as given (None: not being set). Raises VantageInvalid,
    or EgressForbidden when the URL's host is an address the hub may not reach."""
    if name in RESERVED:
        raise VantageInvalid({"name": f"{name!r} is reserved"})
    if secret is not None:
        try:
            check_secret(secret)
        except ValueError as exc:
            raise VantageInvalid({"secret": str(exc)}) from None
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise VantageInvalid({"url": "must be an http(s) URL with a host"})
    if parts.query or parts.fragment or parts.username is not None:
        raise VantageInvalid({"url": "must have no query, fragment or credentials"})
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise VantageInvalid({"url": "has an invalid port"}) from None
    policy = get_policy()
    try:
        resolved = policy.resolve(parts.hostname, port)  # EgressForbidden propagates
    except EgressResolveError as exc:
        raise VantageInvalid({"url": str(exc)}) from None
    # The signatures keep a result from being changed on the way, not from being read: plain
    # http only inside a network the operator opened on purpose (a VPC, a test's loopback).
    if parts.scheme == "http" and not all(
        _inside(a.address, policy.allowed_networks) for a in resolved
    ):
        raise VantageInvalid(
            {"url": "must be https (plain http only to an address in EGRESS_ALLOWED_NETWORKS)"}
        )


def _inside(address: str, networks: Sequence[Any]) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return any(ip.version == net.version and ip in net for net in networks)


@transaction.atomic
def vantage_create(
    *, name: str, url: str, secret: str, region: str = "", enabled: bool = True
) -> Vantage:
    vantage_clean(name=name, url=url, secret=secret)
    vantage = Vantage(name=name, region=region, url=url, secret=secret, enabled=enabled)
    return _save(vantage)


@transaction.atomic
def vantage_update(*, vantage: Vantage, **fields: Any) -> Vantage:
    """Change any of name, region, url, secret, enabled; a blank or absent secret keeps it."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown vantage fields: {', '.join(sorted(unknown))}")
    if not fields.get("secret"):
        fields.pop("secret", None)
    if fields.get("name") not in (None, vantage.name):
        vantage_in_use_check(vantage=vantage, doing="rename")
    url = fields.get("url")
    vantage_clean(
        name=fields.get("name"),
        url=url if url != vantage.url else None,
        secret=fields.get("secret"),
    )
    for name, value in fields.items():
        setattr(vantage, name, value)
    return _save(vantage)


@transaction.atomic
def vantage_delete(*, vantage: Vantage) -> None:
    """Delete a vantage no monitor names; VantageInUse (409 vantage_in_use) otherwise."""
    vantage_in_use_check(vantage=vantage, doing="delete")
    vantage.delete()


def _save(vantage: Vantage) -> Vantage:
    try:
        with transaction.atomic():
            vantage.save()
    except IntegrityError:
        raise VantageInvalid({"name": "a vantage with this name exists"}) from None
    return vantage


def vantage_check(*, vantage: Vantage, timeout: float | None = None) -> Vantage:
    """Call the vantage's signed health endpoint and store the outcome on the row."""
    return vantage_check_many(vantages=[vantage], timeout=timeout)[0]


def vantage_check_many(
    *, vantages: Sequence[Vantage], timeout: float | None = None
) -> list[Vantage]:
    """Check every vantage at once (one dark vantage costs its timeout, not everyone's turn);
    the outcomes are stored from the caller's thread, the only one touching the database."""
    from modules.netprobe.vantages.client import Reply, VantageUnavailable, vantage_health

    budget = timeout if timeout is not None else max(5.0, settings.NETPROBE_VANTAGE_MARGIN_S)
    policy = get_policy()

    def health(vantage: Vantage) -> Reply | str:
        try:
            return vantage_health(vantage, timeout=budget, policy=policy)
        except VantageUnavailable as exc:
            return exc.reason

    with ThreadPoolExecutor(max_workers=max(1, min(16, len(vantages)))) as pool:
        replies = list(pool.map(health, vantages))
    for vantage, reply in zip(vantages, replies, strict=True):
        if isinstance(reply, str):
            vantage.last_check_ok, vantage.last_check_latency_ms = False, None
            vantage.last_check_error = reply[:500]
        else:
            vantage.last_check_ok, vantage.last_check_latency_ms = True, reply.latency_ms
            vantage.last_check_error = ""
        vantage.last_check_at = timezone.now()
        vantage.save(
            update_fields=[
                "last_check_at",
                "last_check_ok",
                "last_check_latency_ms",
                "last_check_error",
                "updated_at",
            ]
        )
    return list(vantages)
