"""tls: handshake on any port (optionally after STARTTLS) and the certificate chain as presented."""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

from portal.egress.deadline import Deadline

from . import starttls
from .base import IpVersion, Limits, ProbeContext, ProbeKind, ProbeResult, Recorder, ValidProbe, ms
from .certinfo import describe
from .checks import read_conditions
from .netutil import Failure, classify_os_error, resolve_target
from .options import OptionReader, ascii_host, family_for, split_host_port
from .starttls import Protocol as StartTls

if TYPE_CHECKING:
    from portal.egress import ResolvedAddress

ALPN_OFFER = ["h2", "http/1.1"]


@dataclass(frozen=True)
class TlsOptions:
    port: int | None = None  # default 443, or 25/143/110 with STARTTLS
    starttls: StartTls | None = None
    servername: str | None = None  # SNI and verification name; default: the target host
    verify_tls: bool = True  # False: an unverifiable chain is reported but does not fail
    conditions: tuple[str, ...] = ()
    timeout: float = 5.0
    ip_version: IpVersion | None = None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], limits: Limits) -> Self:
        known = [f for f in cls.__dataclass_fields__]
        r = OptionReader(raw, known)
        starttls_value = r.string("starttls", 8)
        if starttls_value is not None:
            starttls_value = r.choice("starttls", "smtp", starttls.PROTOCOLS)  # type: ignore[assignment]
        servername = r.string("servername", 253)
        if servername is not None:
            servername = ascii_host(servername)
            if servername is None:
                r.error("servername", "must be a host name")
        options = cls(
            port=r.integer("port", 0, 1, 65535) or None,
            starttls=starttls_value,
            servername=servername,
            verify_tls=r.boolean("verify_tls", True),
            conditions=read_conditions(r, "tls"),
            timeout=r.timeout(limits),
            ip_version=r.ip_version(),
        )
        r.raise_if_errors()
        return options


def check_target(target: str, options: TlsOptions) -> tuple[str, int]:
    default = starttls.DEFAULT_PORTS[options.starttls] if options.starttls else 443
    return split_host_port(target, options.port, default)


class _Failed(Exception):
    def __init__(self, failure: Failure) -> None:
        self.failure = failure


def run(valid: ValidProbe, ctx: ProbeContext) -> ProbeResult:
    (host, port), options = valid.endpoint, valid.options
    rec = Recorder("tls", valid.target)
    deadline = Deadline(options.timeout)  # for the whole probe: connect, STARTTLS, handshakes
    resolved, failure = resolve_target(ctx.policy, host, port, family_for(options.ip_version))
    result: dict[str, Any] = {"port": port, "starttls": options.starttls}
    if failure:
        return rec.failed(*failure, result)
    rec.resolved(resolved)
    servername = options.servername or host
    verify_error: str | None = None
    timings: dict[str, float] = {}
    try:
        try:
            sock, banner = _handshake(
                ctx, host, servername, resolved, options, deadline, verify=True, timings=timings
            )
            verified = True
        except ssl.SSLCertVerificationError as exc:
            # Handshake again without verification, to still read what the server presents.
            verified, verify_error = False, exc.verify_message or str(exc)
            sock, banner = _handshake(
                ctx, host, servername, resolved, options, deadline, verify=False, timings={}
            )
    except _Failed as exc:
        result["timings"] = timings
        return rec.failed(*exc.failure, result)
    with sock:
        rec.use(_address(sock, resolved))
        result.update(_session(sock, verified, verify_error, timings))
        result["starttls_banner"] = banner
    if not verified and options.verify_tls:
        return rec.failed("tls", f"certificate verify failed: {verify_error}", result)
    return rec.ok(result)


def _handshake(
    ctx: ProbeContext,
    host: str,
    servername: str,
    resolved: list[ResolvedAddress],
    options: TlsOptions,
    deadline: Deadline,
    *,
    verify: bool,
    timings: dict[str, float],
) -> tuple[ssl.SSLSocket, str | None]:
    """Connect, STARTTLS if asked, handshake; fills `timings`.

    SSLCertVerificationError passes through; other failures raise _Failed.
    """
    banner = None
    phase = "connect"
    t = time.perf_counter()
    try:
        sock, _ = ctx.policy.connect(
            host, resolved[0].port, timeout=deadline.remaining(), resolved=resolved
        )
    except OSError as exc:
        raise _Failed(classify_os_error(exc)) from exc
    timings["connect_ms"] = ms(time.perf_counter() - t)
    try:
        if options.starttls:
            phase = "starttls"
            t = time.perf_counter()
            banner = starttls.negotiate(sock, options.starttls, deadline)["banner"]
            timings["starttls_ms"] = ms(time.perf_counter() - t)
        phase = "handshake"
        t = time.perf_counter()
        # The handshake is one call, and CPython bounds all its reads by this one timeout.
        sock.settimeout(deadline.remaining())
        context = _context(ctx, verify, alpn=not options.starttls)
        # An IP literal as server_hostname sends no SNI but is matched against IP SANs.
        tls = context.wrap_socket(sock, server_hostname=servername)
        timings["handshake_ms"] = ms(time.perf_counter() - t)
        return tls, banner
    except ssl.SSLCertVerificationError:
        sock.close()
        raise
    except starttls.StartTlsError as exc:
        sock.close()
        raise _Failed(("tls", f"STARTTLS failed: {exc}")) from exc
    except OSError as exc:
        sock.close()
        code, message = classify_os_error(exc)
        if code == "connect":
            code = "tls"
        raise _Failed((code, f"{message} (during {phase})")) from exc


def _context(ctx: ProbeContext, verify: bool, *, alpn: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ctx.ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(ALPN_OFFER)
    return context


def _address(sock: ssl.SSLSocket, resolved: list[ResolvedAddress]) -> ResolvedAddress:
    peer = sock.getpeername()[0]
    return next((a for a in resolved if a.address == peer), resolved[0])


def _session(
    sock: ssl.SSLSocket, verified: bool, verify_error: str | None, timings: dict[str, float]
) -> dict[str, Any]:
    now = datetime.now(UTC)
    presented, chain_source = presented_chain(sock)
    chain = [describe(der, now) for der in presented]
    cipher = sock.cipher()
    verified_path = None
    if verified:
        getter = getattr(sock._sslobj, "get_verified_chain", None)  # type: ignore[union-attr]
        if getter is not None:
            verified_path = [describe(_der(c), now)["subject"] for c in getter()]
    return {
        "protocol": sock.version(),
        "cipher": cipher[0] if cipher else None,
        "cipher_bits": cipher[2] if cipher else None,
        "alpn": sock.selected_alpn_protocol(),
        "verified": verified,
        "verify_error": verify_error,
        "certificate": chain[0] if chain else None,
        "chain": chain,
        "chain_source": chain_source,
        "verified_path": verified_path,
        "timings": timings,
    }


def presented_chain(sock: ssl.SSLSocket) -> tuple[list[bytes], str]:
    """The certificates the server sent, leaf first.

    Python 3.13 has SSLSocket.get_unverified_chain(); 3.10-3.12 have the same call on the private
    `_sslobj`. Where neither exists only the leaf is available ("leaf_only").
    """
    getter = getattr(sock, "get_unverified_chain", None) or getattr(
        sock._sslobj,  # type: ignore[union-attr]
        "get_unverified_chain",
        None,
    )
    if getter is not None:
        chain = getter()
        if chain:
            return [_der(c) for c in chain], "presented"
    leaf = sock.getpeercert(binary_form=True)
    return ([leaf] if leaf else []), "leaf_only"


def _der(cert: Any) -> bytes:
    if isinstance(cert, bytes):
        return cert
    return cert.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]


PROBE = ProbeKind(name="tls", options=TlsOptions, check_target=check_target, run=run)
