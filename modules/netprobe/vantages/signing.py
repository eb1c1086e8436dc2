"""The signature on every hub-to-vantage request: HMAC-SHA256 over method, path, timestamp, body.

Django-free, so both ends (and tests) share it. The string signed is

    METHOD "\n" PATH "\n" TIMESTAMP "\n" BODY

with PATH the endpoint's path inside the vantage (Django's path_info, e.g. /vantage/v1/probe: a
stage prefix such as API Gateway's /production in front of it is not signed), followed by
"?" QUERY when the request has a query string, and TIMESTAMP Unix seconds. A request is
refused when the signature is missing or wrong, when its timestamp is more than MAX_SKEW_S away
from the receiver's clock, or when the same signature was seen before (a replay): every request
carries a random request id in its body, so no two genuine requests share one.

The vantage signs its answer the same way, with METHOD "REPLY" and the request's signature as
PATH: the hub accepts only an answer made with the shared secret for the request it sent, so
nothing on the way (plain HTTP inside a VPC, a proxy) can change a result or replay an old one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Sequence

from portal.errors import PortalError

TIMESTAMP_HEADER = "X-NetProbe-Timestamp"
SIGNATURE_HEADER = "X-NetProbe-Signature"
SCHEME = "v1"
MAX_SKEW_S = 60
MIN_SECRET_BYTES = 32
REPLY = "REPLY"  # the METHOD of a vantage's signed answer
PROTOCOL = "v1"  # answered by the vantage in every reply; the hub refuses another
PROBE_PATH = "/vantage/v1/probe"
HEALTH_PATH = "/vantage/v1/health"
# Anything else is refused before comparing: compare_digest raises on non-ASCII text.
SIGNATURE_FORMAT = re.compile(r"v1=[0-9a-f]{64}")


class SignatureInvalid(PortalError):
    code = "signature_invalid"
    status = 401


def check_secret(secret: str) -> None:
    """Raises ValueError for a secret too short to resist guessing, or one a vantage could never
    be configured with: NETPROBE_VANTAGE_SECRET is a comma list whose items are stripped."""
    if len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
        raise ValueError(f"must be at least {MIN_SECRET_BYTES} bytes")
    if "," in secret:
        raise ValueError("must not contain a comma (NETPROBE_VANTAGE_SECRET is a comma list)")
    if any(c.isspace() or not c.isprintable() for c in secret):
        raise ValueError("must not contain spaces or non-printable characters")


def _same(expected: str, given: str | None) -> bool:
    """A well-formed signature header equal to `expected`, compared in constant time."""
    if given is None or not SIGNATURE_FORMAT.fullmatch(given.strip()):
        return False
    return hmac.compare_digest(expected.encode("ascii"), given.strip().encode("ascii"))


def signature(secret: str, *, method: str, path: str, timestamp: int, body: bytes) -> str:
    message = b"\n".join([method.upper().encode(), path.encode(), str(timestamp).encode(), body])
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def signed_headers(
    secret: str, *, method: str, path: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """The headers a hub adds to one request."""
    timestamp = int(time.time() if now is None else now)
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(
            secret, method=method, path=path, timestamp=timestamp, body=body
        ),
    }


def verify(
    secrets: Sequence[str],
    *,
    method: str,
    path: str,
    timestamp: str | None,
    signature_header: str | None,
    body: bytes,
    first_seen: Callable[[str], bool],
    now: float | None = None,
) -> str:
    """Accept the request and return the secret that signed it, or raise SignatureInvalid
    saying why.

    `secrets` holds the current key and, during a rotation, the previous one. `first_seen(sig)`
    records a signature and answers False when it was already recorded (a replay); it is asked
    only once the signature is known to be genuine, so garbage cannot fill its store.
    """
    if not timestamp or not signature_header:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are required")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureInvalid(f"{TIMESTAMP_HEADER} must be Unix seconds") from None
    skew = (time.time() if now is None else now) - sent_at
    if abs(skew) > MAX_SKEW_S:
        raise SignatureInvalid(
            f"the request's timestamp is {abs(skew):.0f} s off this vantage's clock "
            f"(at most {MAX_SKEW_S} s)"
        )
    given = signature_header.strip()
    if not SIGNATURE_FORMAT.fullmatch(given):
        raise SignatureInvalid(f"{SIGNATURE_HEADER} must be v1=<64 hex digits>")
    matched = [
        s
        for s in secrets
        if s and _same(signature(s, method=method, path=path, timestamp=sent_at, body=body), given)
    ]
    if not matched:
        raise SignatureInvalid("the signature does not match")
    if not first_seen(given):
        raise SignatureInvalid("this request was already received (replay)")
    return matched[0]


def reply_headers(
    secret: str, *, request_signature: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """The headers a vantage adds to its answer: the same scheme over METHOD "REPLY" and, as
    PATH, the request's signature, so an answer vouches for that one request and no other."""
    return signed_headers(secret, method=REPLY, path=request_signature.strip(), body=body, now=now)


def verify_reply(
    secret: str,
    *,
    request_signature: str,
    timestamp: str | None,
    signature_header: str | None,
    body: bytes,
) -> None:
    """Accept a vantage's answer to the request signed `request_signature`, or raise
    SignatureInvalid (unsigned, or changed on the way, or the answer to another request)."""
    if not timestamp or not signature_header:
        raise SignatureInvalid("the answer is not signed")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureInvalid(f"{TIMESTAMP_HEADER} must be Unix seconds") from None
    expected = signature(
        secret, method=REPLY, path=request_signature.strip(), timestamp=sent_at, body=body
    )
    if not _same(expected, signature_header):
        raise SignatureInvalid("the answer's signature does not match")
