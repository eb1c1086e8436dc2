"""ping: ICMP echo with icmplib, where the runtime permits ICMP sockets at all.

Unprivileged ICMP ("ping") sockets need net.ipv4.ping_group_range to include our group; raw
sockets need root or CAP_NET_RAW. AWS Lambda and locked-down pods allow neither, so there the
probe fails with code `unsupported` and points at the tcp ping. With `icmp_privilege="auto"`
the unprivileged socket is tried first (the product target) and a raw socket second.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from icmplib import ICMPReply, ICMPRequest, ICMPv4Socket, ICMPv6Socket
from icmplib.exceptions import ICMPLibError, ICMPSocketError, TimeoutExceeded
from icmplib.utils import unique_identifier

from portal.egress.deadline import Deadline

from .base import (
    IcmpPrivilege,
    IpVersion,
    Limits,
    ProbeContext,
    ProbeKind,
    ProbeOptionsError,
    ProbeResult,
    Recorder,
    ValidProbe,
)
from .checks import read_conditions
from .netutil import resolve_target
from .options import OptionReader, ascii_host, family_for
from .stats import Attempt, most_common_error, summarize

if TYPE_CHECKING:
    from icmplib.sockets import ICMPSocket

UNSUPPORTED = (
    "ICMP is not permitted in this runtime (unprivileged ICMP sockets are disabled by "
    "net.ipv4.ping_group_range and raw sockets need root or CAP_NET_RAW); "
    "use the tcp ping instead"
)


class IcmpUnsupported(Exception):
    pass


@dataclass(frozen=True)
class PingOptions:
    count: int = 4
    interval: float = 0.5
    conditions: tuple[str, ...] = ()
    timeout: float = 2.0  # per echo request
    ip_version: IpVersion | None = None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], limits: Limits) -> Self:
        r = OptionReader(raw, ("count", "interval", "conditions", "timeout", "ip_version"))
        options = cls(
            count=r.integer("count", 4, 1, limits.max_count),
            interval=r.number("interval", 0.5, limits.min_interval_s, limits.max_interval_s),
            conditions=read_conditions(r, "ping"),
            timeout=r.number("timeout", min(2.0, limits.max_timeout_s), 0.01, limits.max_timeout_s),
            ip_version=r.ip_version(),
        )
        r.raise_if_errors()
        return options


def check_target(target: str, options: Any = None) -> str:
    host = ascii_host(target)
    if host is None:
        raise ProbeOptionsError({"target": "must be a host name or an IP address"})
    return host


def open_icmp_socket(address: str, privilege: IcmpPrivilege) -> tuple[ICMPSocket, str]:
    """An ICMP socket for `address`'s family and the mode it got; IcmpUnsupported if none."""
    socket_type = ICMPv6Socket if ":" in address else ICMPv4Socket
    modes = {"auto": (False, True), "unprivileged": (False,), "privileged": (True,)}[privilege]
    for privileged in modes:
        try:
            return socket_type(privileged=privileged), (
                "privileged" if privileged else "unprivileged"
            )
        except ICMPSocketError:  # SocketPermissionError, or no ICMP support at all
            continue
    raise IcmpUnsupported(UNSUPPORTED)


def run(valid: ValidProbe, ctx: ProbeContext) -> ProbeResult:
    host, options = valid.endpoint, valid.options
    rec = Recorder("ping", valid.target)
    resolved, failure = resolve_target(ctx.policy, host, 0, family_for(options.ip_version))
    if failure:
        return rec.failed(*failure, {})
    address = resolved[0]
    rec.resolved(resolved, address)
    try:
        sock, mode = open_icmp_socket(address.address, ctx.limits.icmp_privilege)
    except IcmpUnsupported as exc:
        return rec.failed("unsupported", str(exc), {"suggestion": "tcp"})

    budget = Deadline(ctx.limits.max_duration_s)
    attempts: list[Attempt] = []
    with sock:
        ident = unique_identifier()
        for seq in range(options.count):
            # An echo starts only if it ends inside the budget even when no reply comes.
            if seq and not budget.fits(options.interval + options.timeout):
                break
            if seq:
                time.sleep(options.interval)
            if not budget.fits(options.timeout):
                break
            attempts.append(_echo(sock, address.address, ident, seq, options.timeout))

    result = {"socket": mode, **summarize(attempts, options.count)}
    if not result["received"]:
        return rec.failed(*most_common_error(attempts), result)
    return rec.ok(result)


def _echo(sock: ICMPSocket, address: str, ident: int, seq: int, timeout: float) -> Attempt:
    request = ICMPRequest(destination=address, id=ident, sequence=seq)
    try:
        sock.send(request)
        reply = receive_reply(sock, request, Deadline(timeout))
        reply.raise_for_status()
    except TimeoutExceeded:
        return Attempt(seq, None, "timeout", f"no reply within {timeout:g} s")
    except ICMPLibError as exc:
        return Attempt(seq, None, "connect", str(exc) or type(exc).__name__)
    return Attempt(seq, round((reply.time - request.time) * 1000, 3))


def receive_reply(sock: ICMPSocket, request: ICMPRequest, deadline: Deadline) -> ICMPReply:
    """The reply to `request`, waiting at most until the deadline.

    icmplib's receive(request, timeout) restarts its wait after every unrelated packet (a raw
    socket sees all ICMP traffic), so it can wait up to twice the timeout; here each wait gets
    only the time left. TimeoutExceeded at the deadline."""
    while True:
        try:
            left = deadline.remaining()
        except TimeoutError:
            raise TimeoutExceeded(0) from None
        reply = sock.receive(None, left)
        if reply.id == request.id and reply.sequence == request.sequence:
            return reply


PROBE = ProbeKind(name="ping", options=PingOptions, check_target=check_target, run=run)
