"""Conditions on probes: read from the options, applied to the result once the probe has run.

The language is `modules.netprobe.conditions` (Gatus's); here are the placeholders each kind
offers, what they resolve to in its result, and what a failed condition does to the status.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from modules.netprobe.conditions import Condition, ConditionError, Facts, evaluate, parse

from .base import ProbeError, ProbeResult
from .options import NUL_MESSAGE, OptionReader

MAX_CONDITIONS = 20
MAX_CONDITION_CHARS = 500
_COMMON = ("RESPONSE_TIME", "CONNECTED")
AVAILABLE: dict[str, frozenset[str]] = {
    "http": frozenset((*_COMMON, "STATUS", "BODY", "HEADERS", "IP", "CERTIFICATE_EXPIRATION")),
    "tcp": frozenset((*_COMMON, "IP")),
    "ping": frozenset((*_COMMON, "IP")),
    "tls": frozenset((*_COMMON, "IP", "CERTIFICATE_EXPIRATION")),
    "dns": frozenset((*_COMMON, "DNS_RCODE", "BODY")),
}


def read_conditions(r: OptionReader, kind: str) -> tuple[str, ...]:
    """The `conditions` option: a list of strings, or one string with a condition per line."""
    value = r.raw.get("conditions")
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        r.error("conditions", "must be a list of strings")
        return ()
    items = tuple(v.strip() for v in value if v.strip())
    if len(items) > MAX_CONDITIONS:
        r.error("conditions", f"must be a list of at most {MAX_CONDITIONS} conditions")
        return ()
    problems = []
    for number, text in enumerate(items, 1):
        if "\x00" in text:
            problems.append(f"condition {number}: {NUL_MESSAGE}")
        elif len(text) > MAX_CONDITION_CHARS:
            problems.append(f"condition {number}: must be at most {MAX_CONDITION_CHARS} characters")
        else:
            try:
                parse(text, AVAILABLE[kind])
            except ConditionError as exc:
                problems.append(f"condition {number} ({text}) {exc}")
    if problems:
        r.error("conditions", "; ".join(problems))
        return ()
    return items


def placeholders(conditions: Iterable[str], kind: str) -> frozenset[str]:
    """The placeholders that valid `conditions` use."""
    names: set[str] = set()
    for text in conditions:
        names |= parse(text, AVAILABLE[kind]).placeholders
    return frozenset(names)


def apply(result: ProbeResult, conditions: tuple[str, ...]) -> ProbeResult:
    """Record each condition's outcome; a probe that answered fails when one of them fails.

    A probe that did not answer keeps its own error, unless its conditions ask about
    [CONNECTED] and all hold: then an unanswered connection is what they expect (Gatus's
    `[CONNECTED] == false`, a port that must stay closed), so it is ok and the error moves to
    `connection_error`. A probe the egress policy refused never ran, and stays refused."""
    if not conditions:
        return result
    facts = facts_of(result)
    parsed = [parse(text, AVAILABLE[result.kind]) for text in conditions]
    outcomes = [evaluate(condition, facts) for condition in parsed]
    data = {**result.result, "conditions": [o.to_dict() for o in outcomes]}
    failed = [o for o in outcomes if not o.success]
    if result.error is not None and not failed and _expects_connection_state(parsed, result):
        data["connection_error"] = result.error.to_dict()
        return dataclasses.replace(result, status="ok", error=None, result=data)
    if not result.ok or not failed:
        return dataclasses.replace(result, result=data)
    message = f"condition failed: {failed[0].shown}"
    if len(failed) > 1:
        message += f" (and {len(failed) - 1} more)"
    return dataclasses.replace(
        result, status="failed", error=ProbeError("condition", message), result=data
    )


def _expects_connection_state(parsed: list[Condition], result: ProbeResult) -> bool:
    tried = result.error is not None and result.error.code not in ("forbidden", "unsupported")
    return tried and any("CONNECTED" in condition.placeholders for condition in parsed)


def facts_of(result: ProbeResult) -> Facts:
    data, kind = result.result or {}, result.kind
    status = data.get("status_code") if kind == "http" else None
    connected = {
        "http": status is not None,
        "tcp": bool(data.get("received")),
        "ping": bool(data.get("received")),
        "tls": bool(data.get("protocol")),
        "dns": bool(data.get("rcode")),
    }.get(kind, False)
    body = result.extra.get("body") if kind == "http" else None
    if kind == "dns":
        body = _dns_body(data)
    return Facts(
        status=status if isinstance(status, int) else None,
        response_time_ms=result.response_ms,
        body=body,
        headers=result.extra.get("headers") or {},
        ip=result.resolved.used or next(iter(result.resolved.addresses), None),
        connected=connected,
        dns_rcode=data.get("rcode"),
        certificate_expiration_ms=_expiration_ms(kind, data),
    )


def _dns_body(data: dict[str, Any]) -> str:
    """The answers of the asked type, one per line, written as Gatus writes them (MX: the
    exchange, SRV: target:port); with one answer, `[BODY] == 93.184.215.14` reads as in Gatus."""
    wanted = data.get("record_type")
    answers = [a for a in data.get("answers") or [] if a.get("type") == wanted]
    lines = []
    for answer in answers:
        value = str(answer.get("value") or "")
        parts = value.split()
        if wanted == "MX" and len(parts) == 2:
            value = parts[1]
        elif wanted == "SRV" and len(parts) == 4:
            value = f"{parts[3]}:{parts[2]}"
        lines.append(value)
    return "\n".join(lines)


def _expiration_ms(kind: str, data: dict[str, Any]) -> int | None:
    """Time left on the leaf certificate (tls: `certificate`; https: the first of `tls.chain`)."""
    leaf: Any = None
    if kind == "tls":
        leaf = data.get("certificate")
    elif kind == "http":
        leaf = next(iter((data.get("tls") or {}).get("chain") or []), None)
    if not isinstance(leaf, dict) or not leaf.get("not_after"):
        return None
    try:
        not_after = datetime.fromisoformat(leaf["not_after"])
    except (TypeError, ValueError):
        return None
    return int((not_after - datetime.now(UTC)).total_seconds() * 1000)
