"""HTTP through the egress policy: pinned connections and one bounded request.

The pieces of an exchange (TLS context, Host header, sending within a deadline, reading the
body) are public: NetProbe's http probe times each phase itself but uses these same pieces."""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

from portal.egress.deadline import Deadline, DeadlineSocket
from portal.egress.policy import EgressPolicy, ResolvedAddress, _open_socket, get_policy


@dataclass(frozen=True)
class HttpResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    truncated: bool
    address: ResolvedAddress
    http_version: str

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class _Pinned:
    """Connects to a ResolvedAddress instead of resolving `host`; the caller judged it."""

    timeout: float
    pinned_address: ResolvedAddress
    _pinned_sock: socket.socket | None

    def _tcp(self) -> socket.socket:
        sock, self._pinned_sock = self._pinned_sock, None
        if sock is None:
            sock = _open_socket(self.pinned_address, self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


class PinnedHTTPConnection(_Pinned, http.client.HTTPConnection):
    def __init__(
        self,
        host: str,
        port: int,
        address: ResolvedAddress,
        timeout: float,
        *,
        sock: socket.socket | None = None,
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self.pinned_address, self._pinned_sock = address, sock

    def connect(self) -> None:
        self.sock = self._tcp()


class PinnedHTTPSConnection(_Pinned, http.client.HTTPSConnection):
    """TLS with SNI and certificate verification against `host`, TCP to `address`."""

    def __init__(
        self,
        host: str,
        port: int,
        address: ResolvedAddress,
        timeout: float,
        context: ssl.SSLContext | None = None,
        *,
        sock: socket.socket | None = None,
    ) -> None:
        if context is None:
            context = client_context()
        super().__init__(host, port, timeout=timeout, context=context)
        self.pinned_address, self._pinned_sock, self.ssl_context = address, sock, context

    def connect(self) -> None:
        server_hostname = self.host.partition("%")[0]
        self.sock = self.ssl_context.wrap_socket(self._tcp(), server_hostname=server_hostname)


DEFAULT_PORTS = {"http": 80, "https": 443}
_HTTP_VERSIONS = {9: "HTTP/0.9", 10: "HTTP/1.0", 11: "HTTP/1.1"}


def client_context(*, verify: bool = True, cafile: str | None = None) -> ssl.SSLContext:
    """A client TLS context offering HTTP/1.1 only (http.client speaks nothing newer)."""
    context = ssl.create_default_context(cafile=cafile)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context


def host_header(host: str, port: int, scheme: str) -> str:
    """The Host header: no zone id, IPv6 in brackets, the port only when not the default."""
    value = host.partition("%")[0]
    if ":" in value:
        value = f"[{value}]"
    return value if port == DEFAULT_PORTS[scheme] else f"{value}:{port}"


def request_path(parts: SplitResult) -> str:
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def send(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str],
    deadline: Deadline,
    body: bytes | None = None,
) -> http.client.HTTPResponse:
    """Send a request on a connected `conn` and read the status line and headers in time."""
    sock = conn.sock
    assert sock is not None, "connect() first"
    sock.settimeout(deadline.remaining())  # sendall: one timeout for all of it
    conn.request(method, path, body=body, headers=dict(headers))
    # Every read gets only the time left: header lines or body bytes trickled in just inside a
    # per-read timeout cannot stretch the request.
    response = http.client.HTTPResponse(DeadlineSocket(sock, deadline), method=method)
    response.begin()
    return response


def body_chunks(response: http.client.HTTPResponse, limit: int) -> Iterator[bytes]:
    """The body as it arrives, up to `limit` + 1 bytes: one more than `limit` says it was cut.

    read1() returns what one recv brought (read(n) would wait for all n bytes, past the deadline
    for a body trickled a byte at a time). A caller that keeps the chunks keeps what arrived
    before a timeout."""
    size = 0
    while size <= limit and not response.isclosed():
        chunk = response.read1(min(65536, limit + 1 - size))
        if not chunk:
            return
        size += len(chunk)
        yield chunk


def http_version(response: http.client.HTTPResponse) -> str:
    return _HTTP_VERSIONS.get(response.version, f"HTTP/{response.version}")


def http_request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float,
    max_body: int = 1_048_576,
    verify_tls: bool = True,
    policy: EgressPolicy | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> HttpResponse:
    """One HTTP(S) request through the egress policy; redirects are returned, not followed.

    `timeout` is the budget for connect, send, headers and body; each socket operation gets
    what is left of it (name resolution is not bounded by it). The body is cut at `max_body`
    bytes (`truncated`). `ssl_context` replaces the default verifying context (`verify_tls`
    is then ignored). Raises ValueError for a bad URL, EgressForbidden, EgressResolveError,
    OSError (TimeoutError, ssl.SSLError) and http.client.HTTPException.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"Unsupported URL scheme {parts.scheme!r}: use http or https")
    host = unquote(parts.hostname or "")  # %25 spells a zone id in [fe80::1%25eth0]
    if not host:
        raise ValueError(f"URL has no host: {url!r}")
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    port = parts.port if parts.port is not None else DEFAULT_PORTS[scheme]

    send_headers = {"user-agent": ("User-Agent", "Portal"), "connection": ("Connection", "close")}
    if parts.username is not None:
        userinfo = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        basic = base64.b64encode(userinfo.encode()).decode("ascii")
        send_headers["authorization"] = ("Authorization", f"Basic {basic}")
    for name, value in (headers or {}).items():
        send_headers[name.lower()] = (name, value)
    send_headers["host"] = ("Host", host_header(host, port, scheme))

    policy = policy if policy is not None else get_policy()
    deadline = Deadline(timeout)
    sock, address = policy.connect(host, port, timeout=timeout)
    conn: http.client.HTTPConnection | None = None
    try:
        if scheme == "https":
            if ssl_context is None:
                ssl_context = client_context(verify=verify_tls)
            conn = PinnedHTTPSConnection(host, port, address, timeout, ssl_context, sock=sock)
        else:
            conn = PinnedHTTPConnection(host, port, address, timeout, sock=sock)
        sock.settimeout(deadline.remaining())  # the TLS handshake: one call, one timeout
        conn.connect()
        response = send(
            conn,
            method,
            request_path(parts),
            headers=dict(send_headers.values()),
            deadline=deadline,
            body=body,
        )
        data = b"".join(body_chunks(response, max_body))
        return HttpResponse(
            status=response.status,
            reason=response.reason,
            headers=response.getheaders(),
            body=data[:max_body],
            truncated=len(data) > max_body,
            address=address,
            http_version=http_version(response),
        )
    finally:
        if conn is not None:
            conn.close()
        sock.close()
