"""tcp: TCP connect timing as a ping (works where ICMP does not, e.g. AWS Lambda)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from portal.egress.deadline import Deadline

from .base import (
    ErrorCode,
    IpVersion,
    Limits,
    ProbeContext,
    ProbeKind,
    ProbeResult,
    Recorder,
    ValidProbe,
)
from .checks import read_conditions
from .netutil import classify_os_error, resolve_target
from .options import OptionReader, family_for, split_host_port
from .stats import Attempt, most_common_error, summarize


@dataclass(frozen=True)
class TcpOptions:
    port: int | None = None
    count: int = 4
    interval: float = 0.2
    conditions: tuple[str, ...] = ()
    timeout: float = 5.0  # per attempt
    ip_version: IpVersion | None = None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], limits: Limits) -> Self:
        known = ("port", "count", "interval", "conditions", "timeout", "ip_version")
        r = OptionReader(raw, known)
        options = cls(
            port=r.integer("port", 0, 1, 65535) or None,
            count=r.integer("count", 4, 1, limits.max_count),
            interval=r.number("interval", 0.2, limits.min_interval_s, limits.max_interval_s),
            conditions=read_conditions(r, "tcp"),
            timeout=r.timeout(limits),
            ip_version=r.ip_version(),
        )
        r.raise_if_errors()
        return options


def check_target(target: str, options: TcpOptions) -> tuple[str, int]:
    return split_host_port(target, options.port, None)


def run(valid: ValidProbe, ctx: ProbeContext) -> ProbeResult:
    (host, port), options = valid.endpoint, valid.options
    rec = Recorder("tcp", valid.target)
    resolved, failure = resolve_target(ctx.policy, host, port, family_for(options.ip_version))
    if failure:
        return rec.failed(*failure, {"port": port})
    address = resolved[0]
    rec.resolved(resolved, address)

    budget = Deadline(ctx.limits.max_duration_s)
    attempts: list[Attempt] = []
    for seq in range(options.count):
        # An attempt starts only if it ends inside the budget even when it times out.
        if seq and not budget.fits(options.interval + options.timeout):
            break
        if seq:
            time.sleep(options.interval)
        if not budget.fits(options.timeout):
            break
        attempts.append(_connect_once(ctx, host, port, address, seq, options.timeout))

    result = {"port": port, **summarize(attempts, options.count)}
    if not result["received"]:
        code, message = most_common_error(attempts)
        return rec.failed(code, message, result)
    return rec.ok(result)


def _connect_once(
    ctx: ProbeContext, host: str, port: int, address: Any, seq: int, timeout: float
) -> Attempt:
    t0 = time.perf_counter()
    try:
        sock, _ = ctx.policy.connect(host, port, timeout=timeout, resolved=[address])
    except OSError as exc:
        code: ErrorCode
        code, message = classify_os_error(exc)
        return Attempt(seq, None, code, message)
    rtt = (time.perf_counter() - t0) * 1000
    sock.close()
    return Attempt(seq, round(rtt, 3))


PROBE = ProbeKind(name="tcp", options=TcpOptions, check_target=check_target, run=run)
