"""The egress policy: which addresses outbound connections may reach.

Resolve a host once, judge every address it resolves to, connect to exactly a judged address.
By default only globally routable unicast addresses are allowed. IPv6 forms that carry an IPv4
address (IPv4-mapped, IPv4-compatible, 6to4, Teredo, NAT64) are refused when either the IPv6
address or the IPv4 inside it is refused, so no spelling reaches loopback or the metadata service.

`allowed_networks` (settings.EGRESS_ALLOWED_NETWORKS) opens more networks, except for the cloud
metadata addresses: one of those is allowed only when a single-address network that is exactly it
(169.254.169.254/32, fd00:ec2::254/128) is listed, so opening 169.254.0.0/16 keeps it closed.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

from portal.errors import PortalError

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


class EgressForbidden(PortalError):
    """The target resolves to an address the egress policy refuses."""

    code = "target_forbidden"
    status = 400

    def __init__(self, host: str, address: str, reason: str) -> None:
        self.host, self.address, self.reason = host, address, reason
        target = address if host == address else f"{host!r} ({address})"
        super().__init__(
            f"Outbound connection to {target} refused ({reason})", details={"host": host}
        )


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
