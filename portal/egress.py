"""The one door for outbound connections (NetProbe probes, SOS webhooks).

Resolve a host once, judge every address it resolves to, connect to exactly a judged address.
By default only globally routable unicast addresses are allowed. IPv6 forms that carry an IPv4
address (IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64) are refused when either the IPv6
address or the IPv4 inside it is refused, so no spelling reaches loopback or the metadata service.

`allowed_networks` (settings.EGRESS_ALLOWED_NETWORKS) opens more networks, except for the cloud
metadata addresses: one of those is allowed only when a single-address network that is exactly it
(169.254.169.254/32, fd00:ec2::254/128) is listed, so opening 169.254.0.0/16 keeps it closed.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

CLOUD_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "169.254.170.23", "fd00:ec2::254")
)


def _table(*rows: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(net), reason) for net, reason in rows)


# First match names the reason. Explicit because ipaddress.is_global (Python 3.12.1) calls
# multicast, 192.0.0.0/24, ::ffff:0:0/96 and fec0::/10 global.
_REFUSED_V4 = _table(
    ("0.0.0.0/32", "unspecified"),
    ("0.0.0.0/8", "'this network'"),
    ("127.0.0.0/8", "loopback"),
    ("10.0.0.0/8", "private"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("169.254.0.0/16", "link-local"),
    ("100.64.0.0/10", "CGNAT shared address space"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.0.2.0/24", "documentation"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("198.18.0.0/15", "benchmarking"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
)
_REFUSED_V6 = _table(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("fe80::/10", "link-local"),
    ("fc00::/7", "private (unique local)"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("2001:2::/48", "benchmarking"),
    ("100::/64", "discard-only"),
    ("64:ff9b:1::/48", "local-use NAT64"),
)
# Routable carriers of an IPv4 address: judged by the IPv4 inside (see _embedded_ipv4).
_CARRIERS_V6 = tuple(
    ipaddress.IPv6Network(n) for n in ("::ffff:0:0/96", "64:ff9b::/96", "2002::/16", "2001::/32")
)
_IETF_V6 = ipaddress.IPv6Network("2001::/23")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


class EgressForbidden(Exception):
    """The target resolves to an address the egress policy refuses. API status 400."""

    code = "target_forbidden"

    def __init__(self, host: str, address: str, reason: str) -> None:
        self.host, self.address, self.reason = host, address, reason
        target = address if host == address else f"{host!r} ({address})"
        self.message = f"Outbound connection to {target} refused ({reason})"
        super().__init__(self.message)


class EgressResolveError(OSError):
    """The host name does not resolve (wraps socket.gaierror)."""

    code = "resolve_failed"

    def __init__(self, host: str, detail: str) -> None:
        self.host = host
        super().__init__(f"Cannot resolve {host!r}: {detail}")


@dataclass(frozen=True)
class ResolvedAddress:
    family: int
    address: str
    port: int
    scope_id: int = 0  # interface index of an IPv6 link-local address (fe80::1%eth0)

    @property
    def ip_version(self) -> int:
        return 6 if self.family == socket.AF_INET6 else 4

    @property
    def sockaddr(self) -> tuple[str, int] | tuple[str, int, int, int]:
        if self.family == socket.AF_INET6:
            return (self.address, self.port, 0, self.scope_id)
        return (self.address, self.port)


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


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        return [("IPv4-mapped", ip.ipv4_mapped)]
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # :: and ::1 are not IPv4
        return [("IPv4-compatible", low32)]
    if any(ip in net for net in _NAT64):
        return [("NAT64", low32)]
    if ip.sixtofour is not None:
        return [("6to4", ip.sixtofour)]
    if ip.teredo is not None:
        # A Teredo client contacts the peer's server too (bubbles), so both are destinations.
        server, client = ip.teredo
        return [("Teredo client", client), ("Teredo server", server)]
    return []


def _builtin_reason(ip: IPAddress) -> str | None:
    for net, reason in _REFUSED_V4 if ip.version == 4 else _REFUSED_V6:
        if ip in net:
            return reason
    if ip.version == 4:
        return None if ip.is_global else "not globally routable"
    if any(ip in net for net in _CARRIERS_V6):
        return None
    if ip in _IETF_V6:
        return "IETF protocol assignment"
    return None if ip in _GLOBAL_UNICAST_V6 else "reserved"


def _parse_ip(address: str) -> IPAddress:
    return ipaddress.ip_address(address.partition("%")[0])


class EgressPolicy:
    def __init__(self, allowed_networks: Iterable[str | IPNetwork] | str = ()) -> None:
        if isinstance(allowed_networks, str):
            allowed_networks = allowed_networks.split(",")
        nets: list[IPNetwork] = []
        for item in allowed_networks:
            if isinstance(item, str):
                if not item.strip():
                    continue
                try:
                    item = ipaddress.ip_network(item.strip(), strict=False)
                except ValueError as exc:
                    raise ValueError(f"Bad egress network {item!r}: {exc}") from None
            nets.append(item)
        self.allowed_networks: tuple[IPNetwork, ...] = tuple(nets)

    def __repr__(self) -> str:
        return f"EgressPolicy({[str(n) for n in self.allowed_networks]!r})"

    def _opened(self, ip: IPAddress, *, exactly: bool = False) -> bool:
        return any(
            net.version == ip.version and ip in net and (not exactly or net.num_addresses == 1)
            for net in self.allowed_networks
        )

    def _judge(self, ip: IPAddress) -> str | None:
        if ip in CLOUD_METADATA:
            return None if self._opened(ip, exactly=True) else "cloud metadata"
        reason = _builtin_reason(ip)
        return None if reason is None or self._opened(ip) else reason

    def refusal_reason(self, ip: IPAddress) -> str | None:
        """Why `ip` is refused, or None when it is allowed."""
        if isinstance(ip, ipaddress.IPv6Address):
            ip = ipaddress.IPv6Address(int(ip))  # drop any scope id
            for form, inner in _embedded_ipv4(ip):
                if (reason := self._judge(inner)) is not None:
                    return f"{reason}: IPv4 {inner} inside {form} address"
        return self._judge(ip)

    def check_address(self, address: str, *, host: str | None = None) -> IPAddress:
        """Judge a numeric address (as getaddrinfo returns it); ValueError if not numeric."""
        ip = _parse_ip(address)
        if (reason := self.refusal_reason(ip)) is not None:
            raise EgressForbidden(host if host is not None else address, address, reason)
        return ip

    def resolve(
        self, host: str, port: int, *, family: int = socket.AF_UNSPEC
    ) -> list[ResolvedAddress]:
        """Resolve once with getaddrinfo and judge every address; any refusal refuses all."""
        name = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        try:
            infos = socket.getaddrinfo(name, port, family, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise EgressResolveError(host, exc.strerror or str(exc)) from exc
        except (UnicodeError, ValueError) as exc:  # bad IDNA label, NUL byte
            raise EgressResolveError(host, str(exc)) from exc
        resolved: list[ResolvedAddress] = []
        for fam, _type, _proto, _canon, sockaddr in infos:
            scope = sockaddr[3] if fam == socket.AF_INET6 else 0
            item = ResolvedAddress(fam, sockaddr[0], sockaddr[1], scope)
            self.check_address(item.address, host=host)
            if item not in resolved:
                resolved.append(item)
        if not resolved:
            raise EgressResolveError(host, "no addresses")
        return resolved

    def connect(
        self,
        host: str,
        port: int,
        *,
        timeout: float,
        family: int = socket.AF_UNSPEC,
        resolved: list[ResolvedAddress] | None = None,
    ) -> tuple[socket.socket, ResolvedAddress]:
        """Connect to the first reachable checked address; `timeout` bounds all attempts."""
        candidates = self.resolve(host, port, family=family) if resolved is None else resolved
        for item in candidates:  # a list from elsewhere may not have been judged by this policy
            self.check_address(item.address, host=host)
        deadline = time.monotonic() + timeout
        error: OSError = EgressResolveError(host, "no addresses")
        for item in candidates:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                error = TimeoutError(f"Connecting to {host!r} timed out")
                break
            try:
                sock = _open_socket(item, remaining)
            except OSError as exc:
                error = exc
                continue
            sock.settimeout(timeout)
            return sock, item
        raise error


def _open_socket(address: ResolvedAddress, timeout: float) -> socket.socket:
    sock = socket.socket(address.family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(address.sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


def get_policy() -> EgressPolicy:
    from django.conf import settings  # lazily: the rest of this module is Django-free

    return EgressPolicy(getattr(settings, "EGRESS_ALLOWED_NETWORKS", ()))


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


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("HTTP request timed out")
    return left


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
    deadline = time.monotonic() + timeout
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
        sock.settimeout(_remaining(deadline))
        conn.connect()
        live = conn.sock  # getresponse() may drop conn.sock while the body is still unread
        live.settimeout(_remaining(deadline))
        conn.request(method, path, body=body, headers=dict(send.values()))
        live.settimeout(_remaining(deadline))
        response = conn.getresponse()
        chunks: list[bytes] = []
        size = 0
        while size <= max_body:
            live.settimeout(_remaining(deadline))
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
