"""NetProbe engines: one module per probe kind behind `run_probe()`. Django-free.

`validate()` checks kind, target and options once and returns a `ValidProbe`; `run_valid()` runs
it without checking again; `run_probe()` does both.

Errors, by design:
- invalid kind, target or options -> `ProbeOptionsError` (a PortalError, code invalid_options);
- the initial target (or a given DNS resolver) refused by the egress policy -> `EgressForbidden`
  propagates before any packet is sent (a PortalError, code target_forbidden);
- everything the network does (NXDOMAIN, refused, timeouts, bad certificates, HTTP errors, a
  redirect hop refused by the egress policy, ICMP not permitted) -> a `ProbeResult` with
  `status` failed/timeout and an `error` code; `run_probe` does not raise for those;
- a probe that answered but fails one of its `conditions` -> `status` failed, code `condition`.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import checks
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
    ValidProbe,
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
    "ValidProbe",
    "get_kind",
    "parse_options",
    "run_probe",
    "run_valid",
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
) -> ValidProbe:
    """Check kind, target and options without touching the network, once."""
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
    if errors:
        raise ProbeOptionsError(errors)
    endpoint = probe.check_target(target, parsed)
    return ValidProbe(kind=kind, target=target, options=parsed, endpoint=endpoint)


def run_valid(
    valid: ValidProbe,
    *,
    policy: EgressPolicy,
    limits: Limits | None = None,
    ca_file: str | None = None,
) -> ProbeResult:
    """Run a probe `validate()` accepted (under the same limits)."""
    context = ProbeContext(policy=policy, limits=limits or Limits(), ca_file=ca_file)
    try:
        result = get_kind(valid.kind).run(valid, context)
    except OSError as exc:
        # Safety net: each kind maps its own network errors; anything that slips through is
        # still a network failure, not a server error.
        result = Recorder(valid.kind, valid.target).failed(
            "connect", str(exc) or type(exc).__name__, {}
        )
    return checks.apply(result, getattr(valid.options, "conditions", ()))


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
    valid = validate(kind, target, options, limits)
    return run_valid(valid, policy=policy, limits=limits, ca_file=ca_file)
