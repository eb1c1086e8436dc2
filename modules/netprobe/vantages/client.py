"""The hub's side of the protocol: one signed request to a vantage through the egress door.

Every failure a vantage can cause (refused or unresolvable URL, connection refused, timeout, a
401 for a bad signature or clock, a 5xx, an answer that is not JSON or too large) becomes
VantageUnavailable with a one-line reason: the caller records it, nothing else breaks.
Django-free apart from the policy, which the caller passes (or `get_policy()` reads).
"""

from __future__ import annotations

import http.client
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol

from modules.netprobe.probes import ProbeResult as EngineResult
from modules.netprobe.vantages.codec import CodecError, result_from_dict
from modules.netprobe.vantages.signing import (
    HEALTH_PATH,
    PROBE_PATH,
    PROTOCOL,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureInvalid,
    signed_headers,
    verify_reply,
)
from portal.egress import (
    EgressForbidden,
    EgressPolicy,
    EgressResolveError,
    get_policy,
    http_request,
)

# A result holds at most NETPROBE_MAX_BODY_EXCERPT (1 MiB at most) of body plus headers and
# timings: an answer beyond this is not a result.
MAX_REPLY_BYTES = 4 * 1024 * 1024
USER_AGENT = "Portal-NetProbe-Hub/1"
MAX_REASON = 300


class VantageLike(Protocol):
    name: str
    url: str
    secret: str


class VantageUnavailable(Exception):
    """The vantage did not answer a usable result; `reason` is one line."""

    def __init__(self, reason: str) -> None:
        self.reason = one_line(reason)
        super().__init__(self.reason)


@dataclass(frozen=True)
class Reply:
    data: dict[str, Any]
    latency_ms: float


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """One line of printable text (a reason is stored, and PostgreSQL refuses NUL), cut."""
    text = " ".join("".join(c for c in str(text) if c.isprintable() or c.isspace()).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def new_request_id() -> str:
    return secrets.token_hex(16)


def call(
    vantage: VantageLike,
    method: str,
    path: str,
    *,
    payload: dict[str, Any] | None = None,
    timeout: float,
    policy: EgressPolicy | None = None,
    now: float | None = None,
) -> Reply:
    """One signed request; the whole exchange (connect, send, answer) within `timeout`."""
    body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
    signed_path = path
    signed = signed_headers(vantage.secret, method=method, path=signed_path, body=body, now=now)
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **signed}
    if payload is not None:
        headers["Content-Type"] = "application/json"
    url = vantage.url.rstrip("/") + signed_path
    started = time.perf_counter()
    try:
        response = http_request(
            method,
            url,
            headers=headers,
            body=body if payload is not None else None,
            timeout=timeout,
            max_body=MAX_REPLY_BYTES,
            policy=policy if policy is not None else get_policy(),
        )
    except EgressForbidden as exc:
        raise VantageUnavailable(f"refused by the hub's egress policy: {exc.message}") from exc
    except EgressResolveError as exc:
        raise VantageUnavailable(str(exc)) from exc
    except ValueError as exc:
        raise VantageUnavailable(f"invalid vantage URL: {exc}") from exc
    except TimeoutError as exc:
        raise VantageUnavailable(f"timed out after {timeout:g} s") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise VantageUnavailable(f"connection failed: {exc or type(exc).__name__}") from exc
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    if response.truncated:
        raise VantageUnavailable(f"answer larger than {MAX_REPLY_BYTES} bytes")
    try:
        data = json.loads(response.body, parse_constant=_no_constant)
    except ValueError:
        raise VantageUnavailable(
            f"HTTP {response.status} {response.reason}: the answer is not JSON"
        ) from None
    if response.status != 200:
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            raise VantageUnavailable(
                f"HTTP {response.status} {error.get('code')}: {error.get('message')}"
            )
        raise VantageUnavailable(f"HTTP {response.status} {response.reason}")
    try:
        verify_reply(
            vantage.secret,
            request_signature=signed[SIGNATURE_HEADER],
            timestamp=response.header(TIMESTAMP_HEADER),
            signature_header=response.header(SIGNATURE_HEADER),
            body=response.body,
        )
    except SignatureInvalid as exc:
        raise VantageUnavailable(f"refused the answer: {exc.message}") from exc
    if not isinstance(data, dict):
        raise VantageUnavailable("the answer is not a JSON object")
    return Reply(data, latency_ms)


def vantage_probe(
    vantage: VantageLike,
    *,
    kind: str,
    target: str,
    options: dict[str, Any],
    timeout: float,
    policy: EgressPolicy | None = None,
    margin: float = 0.0,
) -> tuple[EngineResult, float]:
    """Run one probe at the vantage: its engine result, rebuilt, and the round trip in ms.

    The vantage is told to answer within `timeout - margin` (the margin is the round trip)."""
    request_id = new_request_id()
    payload = {
        "request_id": request_id,
        "kind": kind,
        "target": target,
        "options": options,
        "deadline_s": round(max(timeout - margin, min(timeout, 0.5)), 3),
    }
    reply = call(vantage, "POST", PROBE_PATH, payload=payload, timeout=timeout, policy=policy)
    _check_protocol(reply)
    if reply.data.get("request_id") != request_id:
        raise VantageUnavailable("the answer is for another request")
    try:
        result = result_from_dict(reply.data.get("result"))
    except CodecError as exc:
        raise VantageUnavailable(f"malformed result: {exc}") from exc
    if result.kind != kind:
        raise VantageUnavailable("the answer is for another probe kind")
    return result, reply.latency_ms


def vantage_health(
    vantage: VantageLike, *, timeout: float, policy: EgressPolicy | None = None
) -> Reply:
    """The vantage's signed health answer ({"status", "region", "version", "time"})."""
    # The request id goes in the signed body: a query string may be re-encoded on the way
    # (API Gateway, Zappa) and its signature with it.
    request_id = new_request_id()
    payload = {"request_id": request_id}
    reply = call(vantage, "POST", HEALTH_PATH, payload=payload, timeout=timeout, policy=policy)
    _check_protocol(reply)
    if reply.data.get("request_id") != request_id:
        raise VantageUnavailable("the answer is for another request")
    if reply.data.get("status") != "ok":
        raise VantageUnavailable(f"health status {reply.data.get('status')!r}")
    return reply


def _check_protocol(reply: Reply) -> None:
    spoken = reply.data.get("protocol")
    if spoken != PROTOCOL:
        raise VantageUnavailable(
            f"the vantage speaks protocol {one_line(repr(spoken), 40)}, the hub {PROTOCOL}: "
            "deploy the same version on both"
        )
