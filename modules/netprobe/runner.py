"""Running probes under the portal's rules: settings' limits, the egress policy, a bounded pool.

The glue between the Django-free engines (`modules.netprobe.probes`) and the rows: used by the
services (probes, batches) and the monitors alike.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connections

from modules.netprobe import probes
from modules.netprobe.models import Monitor, ProbeResult
from modules.netprobe.probes import Limits, ProbeError, ProbeOptionsError, Resolution, ValidProbe
from modules.netprobe.probes import ProbeResult as EngineResult
from portal.egress import EgressForbidden, EgressPolicy, get_policy

logger = logging.getLogger("modules.netprobe")

MAX_TARGET_BYTES = 2048


def probe_limits() -> Limits:
    """The engines' bounds, from settings (the one place they are read)."""
    max_timeout = settings.NETPROBE_MAX_TIMEOUT_S
    excerpt = settings.NETPROBE_MAX_BODY_EXCERPT
    return Limits(
        default_timeout_s=min(5.0, max_timeout),
        max_timeout_s=max_timeout,
        max_count=settings.NETPROBE_MAX_COUNT,
        max_duration_s=settings.NETPROBE_MAX_DURATION_S,
        default_body_excerpt_bytes=min(2048, excerpt),
        max_body_excerpt_bytes=excerpt,
        icmp_privilege=settings.NETPROBE_ICMP_PRIVILEGE,
    )


@dataclass(frozen=True)
class ProbeSpec:
    """A probe request: the options as stored (only those given, in their typed form) and,
    once validated, the engine's `ValidProbe` (None for a stored spec the limits now refuse)."""

    kind: str
    target: str
    options: dict[str, Any] = field(default_factory=dict)
    valid: ValidProbe | None = field(default=None, compare=False, repr=False)


def probe_validate(
    *, kind: str, target: str, options: Mapping[str, Any] | None = None
) -> ProbeSpec:
    """Check kind, target and options without network; raises ProbeOptionsError."""
    if options is not None and not isinstance(options, Mapping):
        raise ProbeOptionsError({"options": "must be an object"})
    clean = {k: v for k, v in (options or {}).items() if v is not None}
    if len((target or "").encode("utf-8", "replace")) > MAX_TARGET_BYTES:
        # The history index on target must stay under PostgreSQL's btree row limit.
        raise ProbeOptionsError({"target": f"must be at most {MAX_TARGET_BYTES} bytes"})
    valid = probes.validate(kind, target, clean, probe_limits())
    # Stored in their parsed form ("4" from a form becomes 4), only the options given.
    typed = {k: _plain(getattr(valid.options, k, v)) for k, v in clean.items()}
    typed = {k: v for k, v in typed.items() if v is not None}
    return ProbeSpec(kind=kind, target=valid.target, options=typed, valid=valid)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def target_precheck(spec: ProbeSpec, *, policy: EgressPolicy | None = None) -> None:
    """Refuse a target that is a numeric address the policy refuses, without DNS or packets.

    Every numeric spelling counts (2130706433, 0x7f000001, 0177.0.0.1, 127.1, ::ffff:127.0.0.1):
    getaddrinfo with AI_NUMERICHOST reads them as the kernel would. Host names are judged when
    the probe runs, at connect time. Raises EgressForbidden.
    """
    policy = policy or get_policy()
    for host in _hosts(spec):
        try:
            infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
        except (socket.gaierror, UnicodeError, ValueError):
            continue  # a name: judged at run time
        for info in infos:
            address = str(info[4][0]).split("%")[0]
            policy.check_address(address, host=host)


def _hosts(spec: ProbeSpec) -> list[str]:
    """The hosts the probe's first packets go to, from the endpoint validation made."""
    valid = spec.valid
    if valid is None:
        return []
    if valid.kind == "http":
        return [urlsplit(valid.endpoint).hostname or ""]
    if valid.kind in ("tcp", "tls"):
        return [valid.endpoint[0]]
    if valid.kind in ("ping", "traceroute"):
        return [valid.endpoint]
    resolver = valid.options.resolver  # dns: the packets go to the resolver
    if resolver:
        host = resolver.strip()
        if host.startswith("["):
            return [host[1:].partition("]")[0]]
        return [host.split(":")[0] if host.count(":") == 1 else host]
    return []


def response_ms(result: EngineResult) -> float | None:
    return result.response_ms


def storable(value: Any) -> Any:
    """`value` with every NUL character replaced by U+FFFD.

    What a server sends (a body excerpt, a header, a TXT record, a certificate name, an error
    line) may hold NUL, which PostgreSQL refuses in text and JSON: the row would not be stored.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def build_row(
    result: EngineResult, spec: ProbeSpec, *, user: Any = None, monitor: Monitor | None = None
) -> ProbeResult:
    return ProbeResult(
        kind=result.kind,
        target=storable(result.target),
        status=result.status,
        error_code=result.error.code if result.error else "",
        error_message=storable(result.error.message) if result.error else "",
        started_at=result.started_at,
        duration_ms=result.duration_ms,
        response_ms=response_ms(result),
        resolved=result.resolved.to_dict(),
        ip_version=result.ip_version,
        options=storable(spec.options),
        result=storable(result.result),
        created_by=user if user is not None and getattr(user, "is_authenticated", False) else None,
        monitor=monitor,
    )


def _failure(spec: ProbeSpec, code: Any, message: str) -> EngineResult:
    return EngineResult(
        kind=spec.kind,
        target=spec.target,
        status="timeout" if code == "timeout" else "failed",
        error=ProbeError(code, message),
        started_at=datetime.now(UTC),
        duration_ms=0.0,
        resolved=Resolution(),
        ip_version=None,
        result={},
    )


def execute(spec: ProbeSpec, *, policy: EgressPolicy, limits: Limits) -> EngineResult:
    """Run one probe; EgressForbidden and ProbeOptionsError (a spec not validated) propagate."""
    ca_file = settings.NETPROBE_CA_BUNDLE
    if spec.valid is None:
        return probes.run_probe(
            spec.kind, spec.target, spec.options, policy=policy, limits=limits, ca_file=ca_file
        )
    return probes.run_valid(spec.valid, policy=policy, limits=limits, ca_file=ca_file)


def run_many(specs: Sequence[ProbeSpec], *, started: float | None = None) -> list[EngineResult]:
    """Run probes concurrently on a bounded pool; the results keep the order of `specs`.

    Never raises for one probe: a refused target becomes a `forbidden` failure, a probe that
    cannot start inside NETPROBE_MAX_DURATION_S a `timeout` one. Worker threads do not use the
    database (rows are written by the caller, in one query); their connections are closed anyway
    so nothing leaks if that changes. `started` (time.monotonic()) is when the budget began, for
    a caller that queued these probes behind others (default: now).
    """
    if not specs:
        return []
    policy, limits = get_policy(), probe_limits()
    t0 = time.monotonic() if started is None else started

    def task(spec: ProbeSpec) -> EngineResult:
        options = spec.valid.options if spec.valid is not None else None
        timeout = float(getattr(options, "timeout", limits.default_timeout_s))
        if time.monotonic() - t0 + timeout > limits.max_duration_s:
            budget = f"{limits.max_duration_s:g} s"
            return _failure(spec, "timeout", f"not started: the {budget} budget ran out")
        try:
            return execute(spec, policy=policy, limits=limits)
        except EgressForbidden as exc:
            return _failure(spec, "forbidden", exc.message)
        except ProbeOptionsError as exc:
            return _failure(spec, "unsupported", f"invalid probe options: {exc}")
        except Exception as exc:  # one broken probe must not lose the others' results
            logger.exception("NetProbe: %s probe of %r crashed", spec.kind, spec.target)
            return _failure(spec, "unsupported", f"the probe crashed ({type(exc).__name__})")

    def in_worker(spec: ProbeSpec) -> EngineResult:
        try:
            return task(spec)
        finally:
            connections.close_all()  # this thread's own connections, if it ever opened one

    workers = max(1, min(settings.NETPROBE_BATCH_WORKERS, len(specs)))
    if workers == 1:
        return [task(spec) for spec in specs]  # in the caller's thread: its connection stays
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="netprobe") as pool:
        return list(pool.map(in_worker, specs))
