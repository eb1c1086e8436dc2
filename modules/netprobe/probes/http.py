"""http: one GET/HEAD with honest per-phase timings, redirects re-checked hop by hop."""

from __future__ import annotations

import http.client
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Self, get_args
from urllib.parse import urljoin, urlsplit, urlunsplit

from portal.egress import EgressForbidden, PinnedHTTPConnection, ResolvedAddress
from portal.egress.deadline import Deadline
from portal.egress.http import (
    body_chunks,
    client_context,
    host_header,
    http_version,
    request_path,
    send,
)

from .base import (
    ErrorCode,
    IpVersion,
    Limits,
    ProbeContext,
    ProbeKind,
    ProbeOptionsError,
    ProbeResult,
    Recorder,
    ValidProbe,
    ms,
)
from .certinfo import describe
from .checks import placeholders, read_conditions
from .httpcheck import (
    DEFAULT_ACCEPTED,
    MATCH_BYTES,
    StatusRange,
    decode_body,
    evaluate,
    parse_status_ranges,
)
from .netutil import classify_os_error, resolve_target
from .options import OptionReader, ascii_host, family_for
from .tls import presented_chain

USER_AGENT = "Portal-NetProbe/1.0"
REQUEST_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "*/*",
    "Accept-Encoding": "identity",
    "Connection": "close",
}
REDIRECTS = (301, 302, 303, 307, 308)
SELECTED_HEADERS = (
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "server",
    "location",
    "cache-control",
    "expires",
    "last-modified",
    "etag",
    "age",
    "via",
    "alt-svc",
    "strict-transport-security",
    "content-security-policy",
    "x-content-type-options",
    "x-frame-options",
)
PHASES = ("dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "download_ms")
Method = Literal["GET", "HEAD"]


@dataclass(frozen=True)
class HttpOptions:
    method: Method = "GET"
    follow_redirects: bool = True
    max_redirects: int = 5
    verify_tls: bool = True
    expect_status: tuple[str, ...] = ()  # "200", "200-299", "2xx"; empty = 200-399
    keyword: str | None = None  # searched in the first MATCH_BYTES (64 KiB) of the body
    regex: str | None = None  # likewise
    conditions: tuple[str, ...] = ()  # Gatus-style, e.g. "[BODY].status == UP"
    body_excerpt_bytes: int = 2048
    timeout: float = 5.0  # the budget for the whole probe, redirects included
    ip_version: IpVersion | None = None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], limits: Limits) -> Self:
        known = [f for f in cls.__dataclass_fields__]
        r = OptionReader(raw, known)
        expect = r.strings("expect_status")
        if expect and parse_status_ranges(expect) is None:
            r.error("expect_status", 'items must look like "200", "200-299" or "2xx"')
        regex = r.string("regex", 512)
        if regex is not None:
            try:
                re.compile(regex)
            except re.error as exc:
                r.error("regex", f"not a valid regular expression: {exc}")
        options = cls(
            method=r.choice("method", "GET", get_args(Method)),  # type: ignore[arg-type]
            follow_redirects=r.boolean("follow_redirects", True),
            max_redirects=r.integer("max_redirects", limits.max_redirects, 0, limits.max_redirects),
            verify_tls=r.boolean("verify_tls", True),
            expect_status=expect,
            keyword=r.string("keyword", 512),
            regex=regex,
            conditions=read_conditions(r, "http"),
            body_excerpt_bytes=r.integer(
                "body_excerpt_bytes",
                min(limits.default_body_excerpt_bytes, limits.max_body_excerpt_bytes),
                0,
                limits.max_body_excerpt_bytes,
            ),
            timeout=r.timeout(limits),
            ip_version=r.ip_version(),
        )
        r.raise_if_errors()
        return options


def check_target(target: str, options: HttpOptions | None = None) -> str:
    """The URL to request: https:// when no scheme is given, the host in IDNA form."""
    url, problem = normalize_url(target if "://" in target else f"https://{target}")
    if problem:
        raise ProbeOptionsError({"target": problem})
    return url


def normalize_url(url: str) -> tuple[str, str | None]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return url, f"not a valid URL: {exc}"
    if parts.scheme.lower() not in ("http", "https"):
        return url, "the scheme must be http or https"
    if parts.username is not None or parts.password is not None:
        return url, "credentials in the URL are not supported"
    host = ascii_host(parts.hostname or "")
    if host is None:
        return url, "the URL needs a valid host"
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{port}" if port is not None else ""
    return urlunsplit(parts._replace(scheme=parts.scheme.lower(), netloc=netloc)), None


@dataclass
class Hop:
    url: str
    timings: dict[str, float | None] = field(
        default_factory=lambda: dict.fromkeys((*PHASES, "total_ms"))
    )
    address: ResolvedAddress | None = None
    status: int | None = None
    reason: str = ""
    http_version: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    body_capped: bool = False
    body_complete: bool = False  # False when the deadline cut the body short
    tls: dict[str, Any] | None = None
    all_headers: dict[str, str] = field(default_factory=dict)  # lower-case names, for conditions
    certificates: list[bytes] = field(default_factory=list)  # DER, leaf first, as presented
    error: tuple[ErrorCode, str] | None = None
    failed_phase: str | None = None  # "connect", "tls", "ttfb" or "download"

    def location(self) -> str | None:
        if self.status in REDIRECTS:
            return self.headers.get("location")
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "status": self.status,
            "address": self.address.address if self.address else None,
            "timings": self.timings,
            "error": {"code": self.error[0], "message": self.error[1]} if self.error else None,
            "failed_phase": self.failed_phase,
        }


def run(valid: ValidProbe, ctx: ProbeContext) -> ProbeResult:
    url, options = valid.endpoint, valid.options
    rec = Recorder("http", valid.target)
    # As in Gatus, conditions on [STATUS] decide which statuses pass: no 200-399 besides them.
    default = () if "STATUS" in placeholders(options.conditions, "http") else DEFAULT_ACCEPTED
    accepted = parse_status_ranges(options.expect_status or default) or []
    deadline = Deadline(options.timeout)
    chain: list[Hop] = []
    while True:
        hop = _fetch(url, options, ctx, deadline, rec if not chain else None)
        chain.append(hop)
        location = hop.location()
        if hop.error or not (options.follow_redirects and location):
            break
        if len(chain) > options.max_redirects:
            hop.error = ("http", f"too many redirects (more than {options.max_redirects})")
            break
        url, problem = normalize_url(urljoin(url, location))
        if problem:
            hop.error = ("http", f"cannot follow the redirect to {url!r}: {problem}")
            break
    return _finish(rec, options, chain, accepted)


def _fetch(
    url: str, options: HttpOptions, ctx: ProbeContext, deadline: Deadline, rec: Recorder | None
) -> Hop:
    hop = Hop(url)
    t_start = time.perf_counter()
    try:
        _exchange(hop, options, ctx, deadline, rec, t_start)
    finally:
        hop.timings["total_ms"] = ms(time.perf_counter() - t_start)
    return hop


def _exchange(
    hop: Hop,
    options: HttpOptions,
    ctx: ProbeContext,
    deadline: Deadline,
    rec: Recorder | None,
    t_start: float,
) -> None:
    """One request/response; fills `hop` (the first hop records the resolution in `rec`)."""
    parts = urlsplit(hop.url)
    https = parts.scheme.lower() == "https"
    host, port = parts.hostname or "", parts.port or (443 if https else 80)
    try:
        resolved, failure = resolve_target(ctx.policy, host, port, family_for(options.ip_version))
    except EgressForbidden as exc:
        if rec is not None:
            raise
        hop.error = ("forbidden", f"redirect refused: {exc.message}")
        return
    t = _phase(hop, "dns_ms", t_start)
    if failure:
        hop.error = failure
        return
    if rec is not None:
        rec.resolved(resolved)
    phase = "connect"
    sock = conn = None
    try:
        sock, hop.address = ctx.policy.connect(
            host, port, timeout=deadline.remaining(), resolved=resolved
        )
        if rec is not None:
            rec.use(hop.address)
        t = _phase(hop, "connect_ms", t)
        if https:
            phase = "tls"
            # The handshake is one call, and CPython bounds all its reads by this one timeout.
            sock.settimeout(deadline.remaining())
            context = client_context(verify=options.verify_tls, cafile=ctx.ca_file)
            sock = context.wrap_socket(sock, server_hostname=host)
            hop.tls = {"version": sock.version(), "cipher": (sock.cipher() or ("",))[0]}
            hop.certificates = presented_chain(sock)[0]
            t = _phase(hop, "tls_ms", t)
        phase = "ttfb"
        conn = PinnedHTTPConnection(host, port, hop.address, deadline.remaining(), sock=sock)
        conn.connect()
        headers = {**REQUEST_HEADERS, "Host": host_header(host, port, parts.scheme.lower())}
        response = send(
            conn, options.method, request_path(parts), headers=headers, deadline=deadline
        )
        t = _phase(hop, "ttfb_ms", t)
        phase = "download"
        hop.status, hop.reason = response.status, response.reason
        hop.http_version = http_version(response)
        for name in SELECTED_HEADERS:
            values = response.headers.get_all(name)
            if values:
                hop.headers[name] = ", ".join(values)
        for name in {n.lower() for n in response.headers}:
            hop.all_headers[name] = ", ".join(response.headers.get_all(name) or ())
        try:
            _read_body(response, hop, ctx.limits.max_body_read_bytes)
        finally:
            _phase(hop, "download_ms", t)
    except TimeoutError:
        hop.error = ("timeout", f"timed out during {phase}")
        _failed(hop, phase, t)
    except http.client.HTTPException as exc:
        hop.error = ("http", f"bad HTTP response: {type(exc).__name__} {exc}".strip())
        _failed(hop, phase, t)
    except OSError as exc:
        code, message = classify_os_error(exc)
        if code not in ("tls", "timeout"):
            code = "connect" if phase == "connect" else "tls" if phase == "tls" else "http"
        hop.error = (code, message)
        _failed(hop, phase, t)
    finally:
        if conn is not None:
            conn.close()
        if sock is not None:
            sock.close()


def _phase(hop: Hop, name: str, t0: float) -> float:
    now = time.perf_counter()
    hop.timings[name] = ms(now - t0)
    return now


def _failed(hop: Hop, phase: str, t0: float) -> None:
    """The phase that failed keeps the time spent in it up to the failure: a refused
    certificate still shows how long the handshake took."""
    hop.failed_phase = phase
    if hop.timings[f"{phase}_ms"] is None:
        _phase(hop, f"{phase}_ms", t0)


def _read_body(response: http.client.HTTPResponse, hop: Hop, cap: int) -> None:
    """Read up to `cap` bytes into `hop`; what arrived is kept when the deadline cuts it short."""
    chunks: list[bytes] = []
    try:
        for chunk in body_chunks(response, cap):
            chunks.append(chunk)
        hop.body_complete = True
    finally:
        body = b"".join(chunks)
        hop.body, hop.body_capped = body[:cap], len(body) > cap


# What is stored of each presented certificate: enough for expiry warnings, the
# [CERTIFICATE_EXPIRATION] condition and the Prometheus exposition (which also reads the leaf's
# LEAF_FIELDS). Every HTTPS result row is kept; the tls probe is where the whole chain is shown.
CHAIN_FIELDS = ("subject", "subject_cn", "not_after")
LEAF_FIELDS = ("issuer", "sans", "serial", "sha256_fingerprint")


def _tls(hop: Hop) -> dict[str, Any] | None:
    """The session and a compact chain: monitors warn before any of it expires. Described
    after the exchange, so the work is not counted in its timings."""
    if hop.tls is None:
        return None
    now = datetime.now(UTC)
    chain = []
    for position, der in enumerate(hop.certificates):
        cert = describe(der, now)
        fields = CHAIN_FIELDS + LEAF_FIELDS if position == 0 else CHAIN_FIELDS
        chain.append({name: cert[name] for name in fields})
    return {**hop.tls, "chain": chain}


def _finish(
    rec: Recorder, options: HttpOptions, chain: list[Hop], accepted: list[StatusRange]
) -> ProbeResult:
    last = chain[-1]
    answered = [h for h in chain if h.status is not None]
    final = answered[-1] if answered else None
    timings: dict[str, float | None] = {}
    for name in (*PHASES, "total_ms"):
        values = [h.timings[name] for h in chain if h.timings[name] is not None]
        timings[name] = round(sum(v for v in values if v is not None), 3) if values else None
    result: dict[str, Any] = {
        "url": chain[0].url,
        "final_url": last.url,
        "method": options.method,
        "status_code": final.status if final else None,
        "reason": final.reason if final else None,
        "http_version": final.http_version if final else None,
        "headers": final.headers if final else {},
        "tls": _tls(final) if final else None,
        "timings": timings,
        "failed_phase": last.failed_phase,
        "redirects": len(chain) - 1,
        "chain": [h.to_dict() for h in chain],
        "body_size": None,
        "body_read_capped": False,
        "body_excerpt": None,
        "truncated": False,
        "expectations": None,
    }
    if final is not None:
        excerpt_bytes = final.body[: options.body_excerpt_bytes]
        result.update(
            body_size=len(final.body),
            body_read_capped=final.body_capped,
            body_excerpt=decode_body(excerpt_bytes, final.headers.get("content-type")),
            truncated=len(excerpt_bytes) < len(final.body)
            or final.body_capped
            or not final.body_complete,
        )
        if options.conditions:
            # Conditions read as much of the body as keyword and regex do.
            content_type = final.headers.get("content-type")
            rec.extra["body"] = decode_body(final.body[:MATCH_BYTES], content_type)
            rec.extra["headers"] = final.all_headers
    if last.error:
        return rec.failed(last.error[0], last.error[1], result)
    assert final is not None
    # Only the start of the body is searched: the time a keyword or regex takes on up to the
    # read cap (1 MiB) of what a server chose to send is not ours to give.
    checked = final.body[:MATCH_BYTES]
    text = decode_body(checked, final.headers.get("content-type"))
    regex = re.compile(options.regex) if options.regex else None
    report, failure = evaluate(
        final.status or 0,
        text,
        accepted,
        options.keyword,
        regex,
        checked_bytes=len(checked),
        partial=len(checked) < len(final.body),
    )
    result["expectations"] = report
    if failure:
        return rec.failed("http", failure, result)
    return rec.ok(result)


PROBE = ProbeKind(name="http", options=HttpOptions, check_target=check_target, run=run)
