"""JSON POST through the egress policy, signed with HMAC-SHA256 of the body.

Headers: `X-Portal-Signature: sha256=<hex>` (key: the contact method's secret) and
`Idempotency-Key` (the same on every retry of one send). Redirects are not followed. The
payload is documented in templates/sos/webhook-schema.json.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from modules.sos.channels.base import (
    ChannelError,
    Message,
    Sent,
    Target,
    http_failure,
    is_permanent_status,
    truncate,
)
from portal.egress import EgressForbidden, EgressPolicy, EgressResolveError, http_request

USER_AGENT = "Portal-SOS/1.0"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode_payload(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as delta-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit() also takes "²" and "٣"
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class WebhookChannel:
    kind = "webhook"

    def __init__(self, *, timeout: float, policy: EgressPolicy | None = None) -> None:
        self.timeout = timeout
        self.policy = policy

    def send(self, target: Target, message: Message) -> Sent:
        body = encode_payload(message.payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": message.idempotency_key,
            "X-Portal-Signature": sign(target.secret, body),
            "X-Portal-Event": "sos.alert",
        }
        try:
            response = http_request(
                "POST",
                target.address,
                headers=headers,
                body=body,
                timeout=self.timeout,
                max_body=4096,
                policy=self.policy,
            )
        except EgressForbidden as exc:
            raise ChannelError(str(exc), permanent=True) from exc
        except EgressResolveError as exc:
            raise ChannelError(str(exc), permanent=False) from exc
        except ValueError as exc:  # not an http(s) URL, no host
            raise ChannelError(f"Invalid webhook URL: {exc}", permanent=True) from exc
        except TimeoutError as exc:
            raise ChannelError(f"Timed out after {self.timeout:g} s", permanent=False) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise ChannelError(f"Connection failed: {exc}", permanent=False) from exc

        status = response.status
        if 200 <= status < 300:
            request_id = response.header("X-Request-Id") or response.header("Request-Id") or ""
            return Sent(provider_message_id=truncate(request_id or f"HTTP {status}", 300))
        if 300 <= status < 400:
            location = response.header("Location") or "?"
            raise ChannelError(
                f"HTTP {status} redirect to {truncate(location, 200)}; redirects are not followed",
                permanent=True,
            )
        detail = http_failure(
            status, response.reason, response.body, response.header("Content-Type") or ""
        )
        if is_permanent_status(status):
            raise ChannelError(detail, permanent=True)
        raise ChannelError(
            detail, permanent=False, retry_after=parse_retry_after(response.header("Retry-After"))
        )

    def close(self) -> None:
        pass
