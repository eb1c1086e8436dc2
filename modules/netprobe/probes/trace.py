"""traceroute: ICMP echo with growing TTL; hops with address, reverse name and RTTs.

Time Exceeded replies reach only raw ICMP sockets (an unprivileged ping socket does not see
them), so this kind needs root or CAP_NET_RAW and is `unsupported` elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import dns.exception
import dns.resolver
from icmplib import ICMPRequest
from icmplib.exceptions import ICMPLibError, TimeExceeded, TimeoutExceeded
from icmplib.utils import unique_identifier

from portal.egress.deadline import Deadline

from .base import IpVersion, Limits, ProbeContext, ProbeKind, ProbeResult, Recorder, ValidProbe
from .icmp import IcmpUnsupported, check_target, open_icmp_socket, receive_reply
from .netutil import resolve_target
from .options import OptionReader, family_for

if TYPE_CHECKING:
    from icmplib.sockets import ICMPSocket


@dataclass(frozen=True)
class TracerouteOptions:
    max_hops: int = 30
    count: int = 2  # echo requests per hop
    timeout: float = 1.0  # per echo request
    reverse_dns: bool = True
    ip_version: IpVersion | None = None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], limits: Limits) -> Self:
        known = ("max_hops", "count", "timeout", "reverse_dns", "ip_version")
        r = OptionReader(raw, known)
        options = cls(
            max_hops=r.integer("max_hops", limits.max_hops, 1, limits.max_hops),
            count=r.integer("count", 2, 1, 3),
            timeout=r.number("timeout", min(1.0, limits.max_timeout_s), 0.01, limits.max_timeout_s),
            reverse_dns=r.boolean("reverse_dns", True),
            ip_version=r.ip_version(),
        )
        r.raise_if_errors()
        return options


def run(valid: ValidProbe, ctx: ProbeContext) -> ProbeResult:
    host, options = valid.endpoint, valid.options
    rec = Recorder("traceroute", valid.target)
    resolved, failure = resolve_target(ctx.policy, host, 0, family_for(options.ip_version))
    if failure:
        return rec.failed(*failure, {})
    address = resolved[0]
    rec.resolved(resolved, address)
    try:
        if ctx.limits.icmp_privilege == "unprivileged":
            raise IcmpUnsupported("traceroute needs a raw ICMP socket (root or CAP_NET_RAW)")
        sock, _ = open_icmp_socket(address.address, "privileged")
    except IcmpUnsupported as exc:
        message = f"{exc}; traceroute is not available in this runtime"
        return rec.failed("unsupported", message, {"suggestion": "tcp"})

    with sock:
        hops, reached, stopped = _trace(sock, address.address, options, ctx.limits)
    if options.reverse_dns:
        _add_reverse_names(hops, ctx.limits.reverse_dns_timeout_s)
    result = {
        "destination": address.address,
        "max_hops": options.max_hops,
        "reached": reached,
        "stopped": stopped,
        "hops": hops,
    }
    if not reached:
        why = "the time budget ran out" if stopped == "deadline" else f"{options.max_hops} hops"
        return rec.failed("connect", f"destination not reached ({why})", result)
    return rec.ok(result)


def _trace(
    sock: ICMPSocket, address: str, options: TracerouteOptions, limits: Limits
) -> tuple[list[dict[str, Any]], bool, str | None]:
    budget = Deadline(limits.max_duration_s)
    ident = unique_identifier()
    sequence = 0  # unique per request, so a late reply is never taken for a later hop's
    hops: list[dict[str, Any]] = []
    for ttl in range(1, options.max_hops + 1):
        # A request is sent only if it ends inside the budget even when no reply comes.
        if not budget.fits(options.timeout):
            return hops, False, "deadline"
        hop: dict[str, Any] = {"distance": ttl, "address": None, "name": None, "rtts_ms": []}
        reached = False
        for _ in range(options.count):
            if not budget.fits(options.timeout):
                break
            request = ICMPRequest(destination=address, id=ident, sequence=sequence, ttl=ttl)
            sequence = (sequence + 1) & 0xFFFF
            try:
                sock.send(request)
                reply = receive_reply(sock, request, Deadline(options.timeout))
            except TimeoutExceeded:
                hop["rtts_ms"].append(None)
                continue
            except ICMPLibError as exc:
                hop["error"] = str(exc)
                break
            hop["address"] = reply.source
            hop["rtts_ms"].append(round((reply.time - request.time) * 1000, 3))
            try:
                reply.raise_for_status()
                reached = True
            except TimeExceeded:
                pass
            except ICMPLibError as exc:  # destination unreachable: the path ends here
                hop["error"] = str(exc)
                hops.append(hop)
                return hops, False, "unreachable"
        hops.append(hop)
        if reached:
            return hops, True, None
    return hops, False, "max_hops"


def _add_reverse_names(hops: list[dict[str, Any]], timeout: float) -> None:
    addresses = {h["address"] for h in hops if h["address"]}
    if not addresses:
        return
    names: dict[str, str | None] = {}

    def lookup(ip: str) -> None:
        try:
            answer = dns.resolver.resolve_address(ip, lifetime=timeout)
            names[ip] = str(answer[0]).rstrip(".")
        except (dns.exception.DNSException, OSError, ValueError):
            names[ip] = None

    pool = ThreadPoolExecutor(max_workers=min(8, len(addresses)))
    # Bounded: lookups still running after the budget are abandoned, their hops keep name None.
    wait([pool.submit(lookup, ip) for ip in addresses], timeout=timeout + 0.5)
    pool.shutdown(wait=False, cancel_futures=True)
    for hop in hops:
        hop["name"] = names.get(hop["address"]) if hop["address"] else None


PROBE = ProbeKind(name="traceroute", options=TracerouteOptions, check_target=check_target, run=run)
