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
        return "tls", tls_reason(exc)
    if isinstance(exc, ConnectionRefusedError):
        return "connect", "connection refused"
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "connect", "no route to host"
    return "connect", _reason(exc)


PLAIN_TEXT_PORT = "The server did not answer with TLS on this port — is it a plain-text port?"
# OpenSSL's reasons say what broke, not what to do: a sentence first, the reason kept after it.
TLS_SENTENCES = {
    "WRONG_VERSION_NUMBER": PLAIN_TEXT_PORT,
    "PACKET_LENGTH_TOO_LONG": PLAIN_TEXT_PORT,
    "HTTP_REQUEST": "The server answered in plain HTTP, not TLS — is it a plain-text port?",
    "UNSUPPORTED_PROTOCOL": "The server offers only a TLS version this probe does not accept.",
    "TLSV1_ALERT_PROTOCOL_VERSION": "The server accepts none of the TLS versions offered.",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": (
        "The server refused the handshake: no cipher or TLS version in common, "
        "or it wants a client certificate."
    ),
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "The server requires a client certificate.",
    "TLSV1_UNRECOGNIZED_NAME": "The server does not serve this host name (SNI) over TLS.",
    "TLSV1_ALERT_INTERNAL_ERROR": "The server failed while negotiating TLS.",
    "UNEXPECTED_EOF_WHILE_READING": "The server closed the connection during the TLS handshake.",
}


def tls_reason(exc: ssl.SSLError) -> str:
    """A TLS failure in words, with OpenSSL's reason kept for those who search it."""
    reason = exc.reason or ""
    sentence = TLS_SENTENCES.get(reason)
    if sentence is None:
        return reason or str(exc)
    return f"{sentence} OpenSSL said {reason}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _family_name(family: int) -> str:
    return {socket.AF_INET: "IPv4 ", socket.AF_INET6: "IPv6 "}.get(family, "")
