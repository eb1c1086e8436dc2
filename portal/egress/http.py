"""HTTP through the egress policy: pinned connections and one bounded request."""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

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
            context = ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1"])
        super().__init__(host, port, timeout=timeout, context=context)
        self.pinned_address, self._pinned_sock, self.ssl_context = address, sock, context

    def connect(self) -> None:
        server_hostname = self.host.partition("%")[0]
        self.sock = self.ssl_context.wrap_socket(self._tcp(), server_hostname=server_hostname)


_DEFAULT_PORTS = {"http": 80, "https": 443}
_HTTP_VERSIONS = {9: "HTTP/0.9", 10: "HTTP/1.0", 11: "HTTP/1.1"}


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
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"Unsupported URL scheme {parts.scheme!r}: use http or https")
    host = unquote(parts.hostname or "")  # %25 spells a zone id in [fe80::1%25eth0]
    if not host:
        raise ValueError(f"URL has no host: {url!r}")
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    port = parts.port if parts.port is not None else _DEFAULT_PORTS[scheme]
    host_header = host.partition("%")[0]
    if ":" in host_header:
        host_header = f"[{host_header}]"
    if port != _DEFAULT_PORTS[scheme]:
        host_header = f"{host_header}:{port}"

    send = {"user-agent": ("User-Agent", "Portal"), "connection": ("Connection", "close")}
    if parts.username is not None:
        userinfo = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        basic = base64.b64encode(userinfo.encode()).decode("ascii")
        send["authorization"] = ("Authorization", f"Basic {basic}")
    for name, value in (headers or {}).items():
        send[name.lower()] = (name, value)
    send["host"] = ("Host", host_header)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    policy = policy if policy is not None else get_policy()
    deadline = Deadline(timeout)
    sock, address = policy.connect(host, port, timeout=timeout)
    conn: http.client.HTTPConnection | None = None
    try:
        if scheme == "https":
            if ssl_context is None and not verify_tls:
                ssl_context = ssl.create_default_context()
                ssl_context.check_hostname = False
                ssl_context.verify_mode = ssl.CERT_NONE
            conn = PinnedHTTPSConnection(host, port, address, timeout, ssl_context, sock=sock)
        else:
            conn = PinnedHTTPConnection(host, port, address, timeout, sock=sock)
        sock.settimeout(deadline.remaining())  # the TLS handshake: one call, one timeout
        conn.connect()
        live = conn.sock
        live.settimeout(deadline.remaining())  # sendall: one timeout for all of it
        conn.request(method, path, body=body, headers=dict(send.values()))
        # Every read gets only the time left: header lines or body bytes trickled in just
        # inside a per-read timeout cannot stretch the request.
        response = http.client.HTTPResponse(DeadlineSocket(live, deadline), method=method)
        response.begin()
        chunks: list[bytes] = []
        size = 0
        while size <= max_body:
            chunk = response.read1(min(65536, max_body + 1 - size))  # read() waits for all n
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
        return HttpResponse(
            status=response.status,
            reason=response.reason,
            headers=response.getheaders(),
            body=data[:max_body],
            truncated=size > max_body,
            address=address,
            http_version=_HTTP_VERSIONS.get(response.version, f"HTTP/{response.version}"),
        )
    finally:
        if conn is not None:
            conn.close()
        sock.close()
