"""Types shared by every probe kind: the result, its error, the limits and the run context."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self

from portal.errors import PortalError

if TYPE_CHECKING:
    from portal.egress import EgressPolicy, ResolvedAddress

ErrorCode = Literal[
    "dns", "connect", "tls", "http", "timeout", "forbidden", "unsupported", "condition"
]
Status = Literal["ok", "failed", "timeout"]
IcmpPrivilege = Literal["auto", "unprivileged", "privileged"]
IpVersion = Literal[4, 6]

ERROR_CODES: tuple[ErrorCode, ...] = (
    "dns",
    "connect",
    "tls",
    "http",
    "timeout",
    "forbidden",
    "unsupported",
    "condition",  # the probe answered, and one of its conditions failed
)


@dataclass(frozen=True)
class ProbeError:
    code: ErrorCode
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Resolution:
    """Every address the target resolved to (all passed the egress policy) and the one used."""

    addresses: tuple[str, ...] = ()
    used: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"addresses": list(self.addresses), "used": self.used}


@dataclass(frozen=True)
class ProbeResult:
    kind: str
    target: str
    status: Status
    error: ProbeError | None
    started_at: datetime
    duration_ms: float
    resolved: Resolution
    ip_version: int | None
    result: dict[str, Any] = field(default_factory=dict)
    # What conditions may read that the result does not keep (http: the body, every header).
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def response_ms(self) -> float | None:
        """The figure people compare over time: http total, tcp/ping average RTT, dns query
        time, tls connect+handshake; the whole duration otherwise (when it succeeded)."""
        data = self.result or {}
        value: Any = None
        if self.kind == "http":
            value = (data.get("timings") or {}).get("total_ms")
        elif self.kind in ("tcp", "ping"):
            value = data.get("rtt_avg_ms")
        elif self.kind == "dns":
            value = data.get("query_time_ms")
        elif self.kind == "tls":
            timings = data.get("timings") or {}
            value = round(sum(timings.values()), 3) if timings else None
        if value is None and self.ok:
            value = self.duration_ms
        return float(value) if isinstance(value, int | float) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "status": self.status,
            "error": self.error.to_dict() if self.error else None,
            "started_at": self.started_at.isoformat(),
            "duration_ms": self.duration_ms,
            "resolved": self.resolved.to_dict(),
            "ip_version": self.ip_version,
            "result": self.result,
        }


class ProbeOptionsError(PortalError):
    """Invalid kind, target or options; `errors` maps each field to its message."""

    code = "invalid_options"
    status = 400

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors: dict[str, str] = dict(errors)
        message = "; ".join(f"{name}: {text}" for name, text in self.errors.items())
        super().__init__(message, details={"fields": self.errors})

    def fields(self) -> dict[str, list[str]]:
        """The errors as DRF spells field errors: a list of messages per field."""
        return {name: [text] for name, text in self.errors.items()}


@dataclass(frozen=True)
class Limits:
    """Operator bounds (from settings); user options are validated against them."""

    default_timeout_s: float = 5.0
    max_timeout_s: float = 10.0
    max_count: int = 16
    min_interval_s: float = 0.05
    max_interval_s: float = 5.0
    # Wall-clock budget for multi-packet kinds (tcp, ping, traceroute): no packet is sent after it.
    max_duration_s: float = 60.0
    max_redirects: int = 5
    max_body_read_bytes: int = 1_048_576
    default_body_excerpt_bytes: int = 2048
    max_body_excerpt_bytes: int = 65_536
    max_hops: int = 30
    reverse_dns_timeout_s: float = 1.0
    # "auto" tries an unprivileged ICMP socket first and a raw one second (root / CAP_NET_RAW).
    icmp_privilege: IcmpPrivilege = "auto"


@dataclass(frozen=True)
class ProbeContext:
    policy: EgressPolicy
    limits: Limits
    # A PEM bundle that replaces the system trust store for the http and tls kinds.
    ca_file: str | None = None


class ProbeOptions(Protocol):
    timeout: float
    ip_version: int | None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], limits: Limits) -> Self: ...


@dataclass(frozen=True)
class ValidProbe:
    """A probe whose kind, target and options passed validation, checked once.

    `endpoint` is what the kind's check_target made of the target: a URL (http), (host, port)
    (tcp, tls), a host (ping, traceroute) or a DNS name (dns). The run uses it as it is."""

    kind: str
    target: str
    options: Any
    endpoint: Any


@dataclass(frozen=True)
class ProbeKind[OptionsT: ProbeOptions]:
    """One probe kind: its options type and the function that runs it."""

    name: str
    options: type[OptionsT]
    # Raises ProbeOptionsError for a malformed target; no network.
    check_target: Callable[[str, OptionsT], object]
    run: Callable[[ValidProbe, ProbeContext], ProbeResult]


class Recorder:
    """Keeps the start time and resolution of one run and builds its ProbeResult."""

    def __init__(self, kind: str, target: str) -> None:
        self.kind = kind
        self.target = target
        self.started_at = datetime.now(UTC)
        self._t0 = time.perf_counter()
        self.resolution = Resolution()
        self.ip_version: int | None = None
        self.extra: dict[str, Any] = {}

    def resolved(
        self, addresses: Sequence[ResolvedAddress], used: ResolvedAddress | None = None
    ) -> None:
        self.resolution = Resolution(
            tuple(a.address for a in addresses), used.address if used else None
        )
        chosen = used or (addresses[0] if addresses else None)
        self.ip_version = chosen.ip_version if chosen else None

    def use(self, used: ResolvedAddress) -> None:
        self.resolution = Resolution(self.resolution.addresses, used.address)
        self.ip_version = used.ip_version

    def ok(self, result: dict[str, Any]) -> ProbeResult:
        return self.done("ok", None, result)

    def failed(self, code: ErrorCode, message: str, result: dict[str, Any]) -> ProbeResult:
        status: Status = "timeout" if code == "timeout" else "failed"
        return self.done(status, ProbeError(code, message), result)

    def done(self, status: Status, error: ProbeError | None, result: dict[str, Any]) -> ProbeResult:
        return ProbeResult(
            kind=self.kind,
            target=self.target,
            status=status,
            error=error,
            started_at=self.started_at,
            duration_ms=ms_since(self._t0),
            resolved=self.resolution,
            ip_version=self.ip_version,
            result=result,
            extra=self.extra,
        )


def ms_since(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 3)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
