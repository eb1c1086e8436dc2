"""The vantage's side: the signed endpoints a process with NETPROBE_ROLE=vantage serves.

POST /vantage/v1/probe  {"request_id", "kind", "target", "options", "deadline_s"?}
                        -> {"protocol", "request_id", "result"}
POST /vantage/v1/health {"request_id"} -> {"protocol", "request_id", "status", "region", ...}

`deadline_s` is how long the hub will wait: the probe is given at most that (and never more
than this vantage's own NETPROBE_MAX_DURATION_S); one still running then is answered as a
`timeout` result, so the answer reaches the hub before it gives up.

Every request is verified first (signing.py): a bad or missing signature, a timestamp more than
60 s off, or a replay answers 401 `signature_invalid` in the portal's error envelope. Replays
are remembered in Django's cache for twice the allowed skew: per process with locmem://, across
every process and instance of the vantage when CACHE_URL names a shared Redis (a vantage run
with several workers or Lambda instances needs one to refuse a replay sent to another of them).

The probe runs under this process's own egress policy and limits (EGRESS_ALLOWED_NETWORKS,
NETPROBE_MAX_*), exactly as a local probe on a hub would. Plain Django views, no database.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from modules.netprobe.vantages.locations import FieldsInvalid
from modules.netprobe.vantages.signing import (
    HEALTH_PATH,
    MAX_SKEW_S,
    PROBE_PATH,
    PROTOCOL,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    reply_headers,
    verify,
)
from portal.errors import PayloadTooLarge, PortalError, envelope

__all__ = ["HEALTH_PATH", "PROBE_PATH", "PROTOCOL", "health", "probe"]
# A probe request is a kind, a target (2 KiB at most) and options: far below this.
MAX_REQUEST_BYTES = 64 * 1024
MAX_REQUEST_ID = 64

logger = logging.getLogger("modules.netprobe.vantages")


def first_seen(signature: str) -> bool:
    """Records a genuine request's signature; False when it was recorded before (a replay).

    A cache that cannot be reached refuses the request (503): without the store a replay
    would pass."""
    key = "netprobe:vantage:seen:" + hashlib.sha256(signature.encode()).hexdigest()
    try:
        return cache.add(key, 1, timeout=2 * MAX_SKEW_S)
    except Exception as exc:  # each cache backend raises its own types
        logger.warning("vantage: the replay store is unavailable: %s", exc)
        raise PortalError(
            "The replay store (CACHE_URL) cannot be reached; try again shortly.",
            code="replay_store_unavailable",
            status=503,
        ) from exc


def error_response(exc: PortalError) -> JsonResponse:
    return JsonResponse(envelope(exc.code, exc.message, exc.details), status=exc.status)


def _signed_path(request: HttpRequest) -> str:
    query = request.META.get("QUERY_STRING", "")
    return request.path_info + (f"?{query}" if query else "")


def _authenticate(request: HttpRequest, body: bytes) -> str:
    """The secret that signed the request; SignatureInvalid otherwise."""
    return verify(
        settings.NETPROBE_VANTAGE_SECRETS,
        method=request.method or "",
        path=_signed_path(request),
        timestamp=request.headers.get(TIMESTAMP_HEADER),
        signature_header=request.headers.get(SIGNATURE_HEADER),
        body=body,
        first_seen=first_seen,
    )


def _read_body(request: HttpRequest) -> bytes:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_REQUEST_BYTES:
        raise PayloadTooLarge(
            f"The request body is {length} bytes; a vantage accepts at most {MAX_REQUEST_BYTES}.",
            details={"max_bytes": MAX_REQUEST_BYTES},
        )
    body = request.read(MAX_REQUEST_BYTES + 1)
    if len(body) > MAX_REQUEST_BYTES:
        raise PayloadTooLarge(
            f"The request body is larger than {MAX_REQUEST_BYTES} bytes.",
            details={"max_bytes": MAX_REQUEST_BYTES},
        )
    return body


def _method_not_allowed(allowed: str) -> JsonResponse:
    response = error_response(PortalError(f"Use {allowed}.", code="method_not_allowed", status=405))
    response["Allow"] = allowed
    return response


def _parse(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise FieldsInvalid(
            {"non_field_errors": "Invalid JSON."}, "The body is not JSON."
        ) from None
    if not isinstance(data, dict):
        raise FieldsInvalid(
            {"non_field_errors": "Expected a JSON object."}, "The body must be a JSON object."
        )
    errors: dict[str, list[str]] = {}
    request_id = data.get("request_id")
    if not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_REQUEST_ID:
        errors["request_id"] = [f"A string of 1 to {MAX_REQUEST_ID} characters is required."]
    for name in ("kind", "target"):
        if not isinstance(data.get(name), str) or not data.get(name):
            errors[name] = ["This field is required."]
    if data.get("options") is not None and not isinstance(data.get("options"), dict):
        errors["options"] = ["Expected a JSON object."]
    deadline = data.get("deadline_s")
    if deadline is not None and (
        isinstance(deadline, bool) or not isinstance(deadline, int | float) or not deadline > 0
    ):
        errors["deadline_s"] = ["A positive number of seconds is expected."]
    if errors:
        raise FieldsInvalid(errors, "The request has invalid fields.")
    return data


@csrf_exempt
@never_cache
def probe(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _method_not_allowed("POST")
    from modules.netprobe.probes import ProbeOptionsError
    from modules.netprobe.runner import probe_validate, run_many

    try:
        body = _read_body(request)
        secret = _authenticate(request, body)
        data = _parse(body)
        try:
            spec = probe_validate(
                kind=data["kind"], target=data["target"], options=data.get("options")
            )
        except ProbeOptionsError as exc:
            raise FieldsInvalid(exc.fields(), str(exc)) from exc
    except PortalError as exc:
        return error_response(exc)
    # run_many turns a target this vantage's policy refuses into a `forbidden` result, as a
    # batch does: the hub gets this location's answer, not an error.
    result = _within(spec, data.get("deadline_s"), run_many)
    answer = {"protocol": PROTOCOL, "request_id": data["request_id"], "result": result.to_dict()}
    return _signed(request, secret, answer)


def _within(spec: Any, deadline_s: float | None, run_many: Any) -> Any:
    """The probe's result, or a `timeout` result once the hub's deadline (bounded by this
    vantage's NETPROBE_MAX_DURATION_S) has passed; the probe's thread then ends on its own
    timeouts."""
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as FutureTimeout

    from modules.netprobe.probes import ProbeError, Resolution
    from modules.netprobe.probes import ProbeResult as EngineResult

    limit = float(settings.NETPROBE_MAX_DURATION_S)
    deadline = min(float(deadline_s), limit) if deadline_s is not None else limit
    started = datetime.now(UTC)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vantage-probe")
    try:
        return pool.submit(run_many, [spec]).result(timeout=deadline)[0]
    except FutureTimeout:
        return EngineResult(
            kind=spec.kind,
            target=spec.target,
            status="timeout",
            error=ProbeError("timeout", f"not finished within the hub's {deadline:g} s deadline"),
            started_at=started,
            duration_ms=round(deadline * 1000, 3),
            resolved=Resolution(),
            ip_version=None,
            result={},
        )
    finally:
        pool.shutdown(wait=False)


@csrf_exempt
@never_cache
def health(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _method_not_allowed("POST")
    try:
        body = _read_body(request)
        secret = _authenticate(request, body)
        request_id = _request_id(body)
    except PortalError as exc:
        return error_response(exc)
    answer = {
        "protocol": PROTOCOL,
        "request_id": request_id,
        "status": "ok",
        "region": settings.NETPROBE_VANTAGE_REGION,
        "version": PROTOCOL,
        "time": datetime.now(UTC).isoformat(),
    }
    return _signed(request, secret, answer)


def _request_id(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    request_id = data.get("request_id") if isinstance(data, dict) else None
    if not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_REQUEST_ID:
        message = f"A string of 1 to {MAX_REQUEST_ID} characters is required."
        raise FieldsInvalid({"request_id": message}, "The request has invalid fields.")
    return request_id


def _signed(request: HttpRequest, secret: str, answer: dict[str, Any]) -> HttpResponse:
    body = json.dumps(answer, separators=(",", ":")).encode()
    response = HttpResponse(body, content_type="application/json")
    request_signature = request.headers.get(SIGNATURE_HEADER, "")
    for name, value in reply_headers(
        secret, request_signature=request_signature, body=body
    ).items():
        response[name] = value
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(
        PortalError("A vantage serves only /vantage/v1/.", code="not_found", status=404)
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(PortalError("The request could not be understood.", code="bad_request"))


def server_error(request: HttpRequest) -> JsonResponse:
    return error_response(
        PortalError("Something went wrong on this vantage.", code="server_error", status=500)
    )
