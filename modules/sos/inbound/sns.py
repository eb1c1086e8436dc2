"""Amazon SNS HTTP(S) messages: read the envelope, verify its signature, confirm subscriptions.

The signature (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) covers a canonical string of
some of the message's fields, which differ for notifications and (un)subscription
confirmations. The signing certificate is fetched from SigningCertURL, which must be https on
an SNS host (`host_pattern`), through the egress policy, bounded, and cached per URL (SNS
rotates certificates by publishing them under a new URL). Django-free.

A signed message is accepted only near its Timestamp (MAX_AGE_S old, MAX_AHEAD_S ahead): a
captured notification replayed later would otherwise verify for as long as its certificate
is valid, after the dedup records of InboundMessage are gone (AWS's guidance for HTTP(S)
endpoints). SNS keeps a message's Timestamp across its retries, which a delivery policy can
spread over at most an hour, so MAX_AGE_S (an hour and the clock slack) refuses no genuine
retry.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from modules.sos.inbound.errors import (
    InboundInvalid,
    SignatureInvalid,
    SnsTimestampInvalid,
    SnsUnavailable,
)
from portal import jsondepth
from portal.egress import EgressPolicy, http_request

NOTIFICATION = "Notification"
SUBSCRIBE = "SubscriptionConfirmation"
UNSUBSCRIBE = "UnsubscribeConfirmation"
# The fields each type signs, in this order (AWS docs: "Verifying the signatures of Amazon SNS
# messages"); Subject only when the notification has one.
SIGNED_FIELDS = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIBE: ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    UNSUBSCRIBE: ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
HASHES = {"1": "sha1", "2": "sha256"}
CERT_MAX_BYTES = 16_384  # an SNS certificate PEM is about 2 KB
CERT_CACHE_SIZE = 16
CERT_CACHE_S = 24 * 3600.0
CERT_FAILURE_TTL_S = 30.0  # as long as the Retry-After the 503 asks SNS to wait
MAX_AHEAD_S = 300.0  # clocks differ
# The last retry of a full-hour delivery policy can land just past 3600 s (and SNS does not
# retry a 400): the same slack as for clocks ahead.
MAX_AGE_S = 3600.0 + MAX_AHEAD_S
_CERT_PATH = re.compile(r"/SimpleNotificationService-[A-Za-z0-9]+\.pem")


@dataclass(frozen=True)
class SnsMessage:
    type: str
    message_id: str
    topic_arn: str
    message: str
    fields: dict[str, str]

    @property
    def subscribe_url(self) -> str:
        return self.fields.get("SubscribeURL", "")


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_envelope(body: bytes) -> SnsMessage:
    """The SNS JSON envelope; raises InboundInvalid when it is not one."""
    try:
        data = jsondepth.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InboundInvalid("The body is not an SNS message (JSON expected).") from None
    if not isinstance(data, dict):
        raise InboundInvalid("The body is not an SNS message (a JSON object expected).")
    kind = data.get("Type")
    if not isinstance(kind, str) or kind not in SIGNED_FIELDS:
        raise InboundInvalid("Unknown SNS message Type.", details={"type": str(kind)[:40]})
    required = [f for f in SIGNED_FIELDS[kind] if f != "Subject"]
    required += ["Signature", "SignatureVersion", "SigningCertURL"]
    missing = [f for f in required if not isinstance(data.get(f), str) or not data[f]]
    if missing:
        raise InboundInvalid("The SNS message lacks fields.", details={"missing": missing})
    # Only strings are signed: a field of another type (a null Subject) is left out, as SNS does.
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    if any("\x00" in v for v in fields.values()):
        raise InboundInvalid("The SNS message contains a NUL byte.")
    if any(_LONE_SURROGATE.search(v) for v in fields.values()):
        # JSON may escape half a UTF-16 pair ("\ud800"); no UTF-8 text (what SNS signs) has one.
        raise InboundInvalid("The SNS message contains a lone surrogate (not valid Unicode).")
    return SnsMessage(
        type=kind,
        message_id=fields["MessageId"][:200],
        topic_arn=fields["TopicArn"],
        message=fields["Message"],
        fields=fields,
    )


def canonical_string(message: SnsMessage) -> bytes:
    """What SNS signed: "Name\\nvalue\\n" for each signed field present, in order."""
    parts = []
    for name in SIGNED_FIELDS[message.type]:
        if name in message.fields:
            parts.append(f"{name}\n{message.fields[name]}\n")
    return "".join(parts).encode("utf-8")


def check_timestamp(message: SnsMessage, now: datetime) -> None:
    """Raises SnsTimestampInvalid unless the message was published within MAX_AGE_S before
    `now` (and at most MAX_AHEAD_S after it)."""
    raw = message.fields["Timestamp"]
    try:
        published = datetime.fromisoformat(raw)
    except ValueError:
        published = None
    if published is None or published.tzinfo is None:
        raise SnsTimestampInvalid(
            "The SNS message Timestamp is not an ISO 8601 UTC time.",
            details={"timestamp": raw[:40]},
        )
    age_s = (now - published).total_seconds()
    if age_s > MAX_AGE_S or age_s < -MAX_AHEAD_S:
        raise SnsTimestampInvalid(
            "The SNS message was published too long ago or in the future: refused as a replay.",
            details={
                "timestamp": raw[:40],
                "age_s": round(age_s),
                "max_age_s": int(MAX_AGE_S),
                "max_ahead_s": int(MAX_AHEAD_S),
            },
        )


def check_sns_url(url: str, host_pattern: str, what: str) -> None:
    """An https URL on a host `host_pattern` matches in full; raises SignatureInvalid."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host or not re.fullmatch(host_pattern, host):
        raise SignatureInvalid(
            f"The {what} is not an https URL on an Amazon SNS host.", details={"field": what}
        )


class _CertCache:
    def __init__(self) -> None:
        self._items: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> Any | None:
        with self._lock:
            item = self._items.get(url)
            if item is None or time.monotonic() > item[0]:
                return None
            return item[1]

    def put(self, url: str, cert: Any, ttl: float = CERT_CACHE_S) -> None:
        with self._lock:
            if len(self._items) >= CERT_CACHE_SIZE and url not in self._items:
                self._items.pop(next(iter(self._items)))
            self._items[url] = (time.monotonic() + ttl, cert)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


cert_cache = _CertCache()


def signing_certificate(url: str, *, timeout: float, policy: EgressPolicy | None = None) -> Any:
    """The x509 certificate at `url` (cached); raises SnsUnavailable or SignatureInvalid.
    A failed fetch is remembered for CERT_FAILURE_TTL_S: a flood of posts naming an
    unreachable URL costs one fetch, not one connection timeout each."""
    from cryptography import x509

    cert = cert_cache.get(url)
    if isinstance(cert, SnsUnavailable):
        raise SnsUnavailable(cert.message)
    if isinstance(cert, SignatureInvalid):
        raise SignatureInvalid(cert.message)
    if cert is not None:
        return cert
    try:
        response = http_request("GET", url, timeout=timeout, max_body=CERT_MAX_BYTES, policy=policy)
        if response.status != 200 or response.truncated:
            raise SnsUnavailable(
                f"The SNS signing certificate could not be fetched: HTTP {response.status}"
                + (" (too large)" if response.truncated else "")
            )
    except SnsUnavailable as exc:
        cert_cache.put(url, exc, ttl=CERT_FAILURE_TTL_S)
        raise
    except Exception as exc:  # egress refusals, TLS errors, timeouts, HTTP errors
        failure = SnsUnavailable(
            f"The SNS signing certificate could not be fetched: {type(exc).__name__}"
        )
        cert_cache.put(url, failure, ttl=CERT_FAILURE_TTL_S)
        raise failure from exc
    try:
        cert = x509.load_pem_x509_certificate(response.body)
    except ValueError:
        failure = SignatureInvalid("The SigningCertURL does not hold a PEM certificate.")
        cert_cache.put(url, failure, ttl=CERT_FAILURE_TTL_S)
        raise failure from None
    cert_cache.put(url, cert)
    return cert


def verify_sns_message(
    message: SnsMessage,
    *,
    host_pattern: str,
    timeout: float,
    policy: EgressPolicy | None = None,
    now: datetime | None = None,
) -> None:
    """Raises SignatureInvalid unless SNS signed `message` (or SnsUnavailable), then
    SnsTimestampInvalid unless it was published near `now`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    algorithm = HASHES.get(message.fields["SignatureVersion"])
    if algorithm is None:
        raise SignatureInvalid("Unsupported SignatureVersion (1 or 2 expected).")
    check_sns_url(message.fields["SigningCertURL"], host_pattern, "SigningCertURL")
    if not _CERT_PATH.fullmatch(urlsplit(message.fields["SigningCertURL"]).path):
        # Every SNS signing certificate is served under this name; anything else on an SNS
        # host (a SubscribeURL, an error page) is not one to fetch.
        raise SignatureInvalid(
            "The SigningCertURL is not an SNS signing certificate.",
            details={"field": "SigningCertURL"},
        )
    try:
        signature = base64.b64decode(message.fields["Signature"], validate=True)
    except (binascii.Error, ValueError):
        raise SignatureInvalid("The Signature is not base64.") from None
    cert = signing_certificate(message.fields["SigningCertURL"], timeout=timeout, policy=policy)
    now = now or datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise SignatureInvalid("The SNS signing certificate is not valid at this time.")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureInvalid("The SNS signing certificate does not hold an RSA key.")
    digest = hashes.SHA1() if algorithm == "sha1" else hashes.SHA256()  # noqa: S303 (SNS v1)
    try:
        key.verify(signature, canonical_string(message), padding.PKCS1v15(), digest)
    except InvalidSignature:
        raise SignatureInvalid("The SNS message signature does not verify.") from None
    check_timestamp(message, now)


def confirm_subscription(
    message: SnsMessage, *, host_pattern: str, timeout: float, policy: EgressPolicy | None = None
) -> None:
    """GET the SubscribeURL (an SNS host only); raises SnsUnavailable when SNS does not
    answer 200, so that SNS sends the confirmation again."""
    url = message.subscribe_url
    check_sns_url(url, host_pattern, "SubscribeURL")
    try:
        response = http_request("GET", url, timeout=timeout, max_body=65_536, policy=policy)
    except Exception as exc:
        raise SnsUnavailable(
            f"The subscription could not be confirmed: {type(exc).__name__}"
        ) from exc
    if response.status != 200:
        raise SnsUnavailable(f"The subscription could not be confirmed: HTTP {response.status}")
