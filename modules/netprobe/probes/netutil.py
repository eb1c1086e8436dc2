"""Resolution through the egress policy and mapping of socket errors to probe error codes."""

from __future__ import annotations

import errno
import socket
import ssl
from typing import TYPE_CHECKING

from portal.egress import EgressResolveError

from .base import ErrorCode

if TYPE_CHECKING:
    from portal.egress import EgressPolicy, ResolvedAddress

Failure = tuple[ErrorCode, str]


def resolve_target(
    policy: EgressPolicy, host: str, port: int, family: int
) -> tuple[list[ResolvedAddress], Failure | None]:
    """Resolve once; EgressForbidden propagates (400 target_forbidden), a lookup failure is dns."""
    try:
        resolved = policy.resolve(host, port, family=family)
    except (EgressResolveError, socket.gaierror, UnicodeError) as exc:
        return [], ("dns", f"{host} does not resolve: {_reason(exc)}")
    if not resolved:
        return [], ("dns", f"{host} has no {_family_name(family)}address")
    return resolved, None


def classify_os_error(exc: BaseException) -> Failure:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout", "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "tls", f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return "tls", exc.reason or str(exc)
    if isinstance(exc, ConnectionRefusedError):
        return "connect", "connection refused"
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "connect", "no route to host"
    return "connect", _reason(exc)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _family_name(family: int) -> str:
    return {socket.AF_INET: "IPv4 ", socket.AF_INET6: "IPv6 "}.get(family, "")
