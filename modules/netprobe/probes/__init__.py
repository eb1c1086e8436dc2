"""NetProbe engines: one module per probe kind behind `run_probe()`. Django-free.

Errors, by design:
- invalid kind, target or options -> `ProbeOptionsError` (the API answers 400 with field details);
- the initial target (or a given DNS resolver) refused by the egress policy -> `EgressForbidden`
  propagates before any packet is sent (the API answers 400 `target_forbidden`);
- everything the network does (NXDOMAIN, refused, timeouts, bad certificates, HTTP errors, a
  redirect hop refused by the egress policy, ICMP not permitted) -> a `ProbeResult` with
  `status` failed/timeout and an `error` code; `run_probe` does not raise for those.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .base import (
    ERROR_CODES,
    ErrorCode,
    Limits,
    ProbeContext,
    ProbeError,
    ProbeKind,
    ProbeOptionsError,
    ProbeResult,
    Recorder,
    Resolution,
    Status,
)

if TYPE_CHECKING:
    from portal.egress import EgressPolicy

__all__ = [
    "ERROR_CODES",
    "KINDS",
    "ErrorCode",
    "Limits",
    "ProbeContext",
    "ProbeError",
    "ProbeKind",
    "ProbeOptionsError",
    "ProbeResult",
    "Resolution",
    "Status",
    "get_kind",
    "parse_options",
    "run_probe",
    "validate",
]

# kind name -> module in this package, imported on first use: a process pays only for what it runs.
KINDS: dict[str, str] = {
    "dns": "dns",
    "tcp": "tcp",
    "http": "http",
    "tls": "tls",
    "ping": "icmp",
    "traceroute": "trace",
}


def get_kind(kind: str) -> ProbeKind[Any]:
    module = KINDS.get(kind)
    if module is None:
        raise ProbeOptionsError({"kind": f"must be one of {', '.join(KINDS)}"})
    return importlib.import_module(f"{__name__}.{module}").PROBE


def parse_options(kind: str, options: Mapping[str, Any] | Any | None, limits: Limits) -> Any:
    """Validate options (a mapping or an options dataclass) against the limits."""
    probe = get_kind(kind)
    if dataclasses.is_dataclass(options) and not isinstance(options, type):
        options = dataclasses.asdict(options)
    if options is not None and not isinstance(options, Mapping):
        raise ProbeOptionsError({"options": "must be an object"})
    return probe.options.from_mapping(options or {}, limits)


def validate(
    kind: str, target: str, options: Mapping[str, Any] | Any | None, limits: Limits
) -> Any:
    """Check kind, target and options without touching the network; returns the parsed options."""
    probe = get_kind(kind)
    target = (target or "").strip()
    errors: dict[str, str] = {}
    if not target:
        errors["target"] = "is required"
    elif len(target) > 2048:
        errors["target"] = "must be at most 2048 characters"
    elif any(ord(c) < 32 or c == "\x7f" for c in target):
        errors["target"] = "must not contain control characters"
    parsed = None
    try:
        parsed = parse_options(kind, options, limits)
    except ProbeOptionsError as exc:
        errors.update(exc.errors)
    if parsed is not None and not errors:
        probe.check_target(target, parsed)
    if errors:
        raise ProbeOptionsError(errors)
    return parsed


def run_probe(
    kind: str,
    target: str,
    options: Mapping[str, Any] | Any | None = None,
    *,
    policy: EgressPolicy,
    limits: Limits | None = None,
    ca_file: str | None = None,
) -> ProbeResult:
    limits = limits or Limits()
    probe = get_kind(kind)
    target = (target or "").strip()
    parsed = validate(kind, target, options, limits)
    context = ProbeContext(policy=policy, limits=limits, ca_file=ca_file)
    try:
        return probe.run(target, parsed, context)
    except OSError as exc:
        # Safety net: each kind maps its own network errors; anything that slips through is
        # still a network failure, not a server error.
        return Recorder(kind, target).failed("connect", str(exc) or type(exc).__name__, {})
