"""An engine result as JSON and back, for the vantage's answer to the hub. Django-free.

`result_from_dict(r.to_dict()) == r` for every engine result: the hub rebuilds exactly
what the vantage's engine returned and stores it like a local one. `extra` (what conditions
read: an http body, every header) is not sent: the vantage applied the conditions already, and
the result says how they went.

The hub reads what a vantage answered as untrusted input: a malformed answer raises CodecError,
and the location becomes `vantage_unavailable` rather than a row with nonsense in it.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from modules.netprobe.probes import ERROR_CODES, KINDS, ProbeError, ProbeResult, Resolution

STATUSES = ("ok", "failed", "timeout")


class CodecError(ValueError):
    """The answer is not an engine result."""


def result_from_dict(data: Any) -> ProbeResult:
    if not isinstance(data, dict):
        raise CodecError("the result is not an object")
    kind = _choice(data, "kind", tuple(KINDS))
    status = _choice(data, "status", STATUSES)
    target = _text(data, "target")
    error = data.get("error")
    if error is not None:
        if not isinstance(error, dict):
            raise CodecError("error must be an object or null")
        error = ProbeError(_choice(error, "code", ERROR_CODES), _text(error, "message"))
    if (status == "ok") != (error is None):
        raise CodecError("an ok result has no error, and a failed one has one")
    try:
        started_at = datetime.fromisoformat(_text(data, "started_at"))
    except ValueError:
        raise CodecError("started_at is not an ISO 8601 time") from None
    if started_at.tzinfo is None:
        raise CodecError("started_at has no time zone")
    duration = data.get("duration_ms")
    if not _number(duration) or duration < 0:
        raise CodecError("duration_ms must be a number")
    ip_version = data.get("ip_version")
    if ip_version not in (None, 4, 6) or isinstance(ip_version, bool):
        raise CodecError("ip_version must be 4, 6 or null")
    resolved = data.get("resolved")
    if not isinstance(resolved, dict):
        raise CodecError("resolved must be an object")
    addresses = resolved.get("addresses")
    used = resolved.get("used")
    if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
        raise CodecError("resolved.addresses must be a list of strings")
    if used is not None and not isinstance(used, str):
        raise CodecError("resolved.used must be a string or null")
    body = data.get("result")
    if not isinstance(body, dict):
        raise CodecError("result must be an object")
    _check_body(kind, body)
    return ProbeResult(
        kind=kind,
        target=target,
        status=status,  # type: ignore[arg-type]
        error=error,
        started_at=started_at,
        duration_ms=float(duration) if isinstance(duration, int) else duration,
        resolved=Resolution(tuple(addresses), used),
        ip_version=ip_version,
        result=body,
    )


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise CodecError(f"{name} must be a string")
    return value


def _choice(data: dict[str, Any], name: str, choices: tuple[str, ...]) -> Any:
    value = data.get(name)
    if value not in choices:
        raise CodecError(f"{name} must be one of {', '.join(choices)}")
    return value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_body(kind: str, body: dict[str, Any]) -> None:
    """The fields the hub computes with (response_ms, the timing waterfall, the tables): a
    figure that is not a number would break a page or a row, not just look odd."""
    for key, value in body.items():
        if key.endswith("_ms") and value is not None and not _number(value):
            raise CodecError(f"result.{key} must be a number or null")
    conditions = body.get("conditions")
    if conditions is not None and not (
        isinstance(conditions, list) and all(isinstance(c, dict) for c in conditions)
    ):
        raise CodecError("result.conditions must be a list of objects")
    if not isinstance(body.get("failed_phase") or "", str):
        raise CodecError("result.failed_phase must be a string or null")
    timings = body.get("timings")
    if timings is None:
        return
    if not isinstance(timings, dict) or not all(isinstance(k, str) for k in timings):
        raise CodecError("result.timings must be an object")
    for key, value in timings.items():
        # tls sums its phases: every one must be there; http leaves a phase it skipped null.
        if not (_number(value) or (value is None and kind != "tls")):
            raise CodecError(f"result.timings.{key} must be a number")
