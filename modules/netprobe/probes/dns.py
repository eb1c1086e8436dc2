"""dns: one query to the system resolver or a given one, answers people can assert on."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self, get_args

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.reversename
import dns.rrset

from portal.egress.deadline import Deadline

from .base import (
    IpVersion,
    Limits,
    ProbeContext,
    ProbeKind,
    ProbeOptionsError,
    ProbeResult,
    Recorder,
    Resolution,
    ValidProbe,
)
from .checks import placeholders, read_conditions
from .netutil import Failure, classify_os_error
from .options import OptionReader, ascii_host, is_ip, resolver_address

RecordType = Literal["A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "SRV", "CAA", "PTR"]
RECORD_TYPES: tuple[RecordType, ...] = get_args(RecordType)
Transport = Literal["udp", "tcp"]


@dataclass(frozen=True)
class DnsOptions:
    record_type: RecordType = "A"
    resolver: str | None = None  # "IP", "IP:port" or "[IPv6]:port"; None = system resolver
    transport: Transport = "udp"
    dnssec: bool = False  # ask for DNSSEC records (EDNS DO bit)
    conditions: tuple[str, ...] = ()
    timeout: float = 5.0
    ip_version: IpVersion | None = None  # picks among the system resolvers

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], limits: Limits) -> Self:
        known = (
            "record_type",
            "resolver",
            "transport",
            "dnssec",
            "conditions",
            "timeout",
            "ip_version",
        )
        r = OptionReader(raw, known)
        resolver = r.string("resolver", 64)
        if resolver:
            resolver_address(resolver, r)
        options = cls(
            record_type=r.choice("record_type", "A", RECORD_TYPES),  # type: ignore[arg-type]
            resolver=resolver,
            transport=r.choice("transport", "udp", get_args(Transport)),  # type: ignore[arg-type]
            dnssec=r.boolean("dnssec", False),
            conditions=read_conditions(r, "dns"),
            timeout=r.timeout(limits),
            ip_version=r.ip_version(),
        )
        r.raise_if_errors()
        return options


def check_target(target: str, options: DnsOptions) -> dns.name.Name:
    if options.record_type == "PTR" and is_ip(target):
        return dns.reversename.from_address(target)
    name = ascii_host(target)
    if name is None or is_ip(name):
        raise ProbeOptionsError({"target": "must be a domain name (or an IP address for PTR)"})
    return dns.name.from_text(name)


def run(valid: ValidProbe, ctx: ProbeContext) -> ProbeResult:
    qname, options = valid.endpoint, valid.options
    servers = _servers(options, ctx)  # may raise EgressForbidden for a given resolver
    rec = Recorder("dns", valid.target)
    rec.resolution = Resolution(tuple(f"{ip}" for ip, _ in servers))
    base: dict[str, Any] = {
        "record_type": options.record_type,
        "qname": qname.to_text(),
        "resolver": None,
        "resolver_source": "given" if options.resolver else "system",
    }
    if not servers:
        family = f"IPv{options.ip_version} " if options.ip_version else ""
        return rec.failed("dns", f"no {family}system resolver is configured", base)

    query = dns.message.make_query(qname, options.record_type, want_dnssec=options.dnssec)
    query.flags |= dns.flags.AD  # RFC 6840: ask a validating resolver to report AD
    deadline = Deadline(options.timeout)
    failure: Failure = ("dns", "no resolver answered")
    for ip, port in servers:
        if not deadline.fits(0):
            break
        rec.resolution = Resolution(rec.resolution.addresses, ip)
        rec.ip_version = ipaddress.ip_address(ip).version
        base["resolver"] = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        t0 = time.perf_counter()
        try:
            response, transport = _query(query, ip, port, options.transport, deadline)
        except dns.exception.Timeout:
            failure = ("timeout", f"resolver {base['resolver']} did not answer in time")
            continue
        except OSError as exc:
            code, message = classify_os_error(exc)
            failure = ("timeout" if code == "timeout" else "dns", f"{base['resolver']}: {message}")
            continue
        except dns.exception.DNSException as exc:
            failure = ("dns", f"{base['resolver']}: {exc}")
            continue
        query_ms = round((time.perf_counter() - t0) * 1000, 3)
        # Conditions on [DNS_RCODE] decide which answer codes pass, as in Gatus.
        rcode_decides = "DNS_RCODE" in placeholders(options.conditions, "dns")
        return _answered(rec, base, response, transport, query_ms, rcode_decides)
    return rec.failed(failure[0], failure[1], base)


def _servers(options: DnsOptions, ctx: ProbeContext) -> list[tuple[str, int]]:
    if options.resolver:
        parsed = resolver_address(options.resolver, OptionReader({}, ()))
        assert parsed is not None
        ctx.policy.check_address(parsed[0])
        return [parsed]
    try:
        system = dns.resolver.Resolver(configure=True)
    except dns.exception.DNSException:
        return []
    servers = []
    for ns in system.nameservers:
        ip = str(ns)
        if is_ip(ip) and options.ip_version in (None, ipaddress.ip_address(ip).version):
            servers.append((ip, system.nameserver_ports.get(ip, system.port)))
    return servers


def _query(
    query: dns.message.Message, ip: str, port: int, transport: Transport, deadline: Deadline
) -> tuple[dns.message.Message, Transport]:
    """One query; a truncated UDP answer is asked again over TCP, with the time left only
    (dnspython's udp_with_fallback gives each transport the whole timeout)."""
    if transport == "udp":
        try:
            udp = dns.query.udp(
                query, ip, timeout=deadline.remaining(), port=port, raise_on_truncation=True
            )
            return udp, "udp"
        except dns.message.Truncated:
            pass
    return dns.query.tcp(query, ip, timeout=deadline.remaining(), port=port), "tcp"


def _answered(
    rec: Recorder,
    base: dict[str, Any],
    response: dns.message.Message,
    transport: Transport,
    query_ms: float,
    rcode_decides: bool = False,
) -> ProbeResult:
    rcode = dns.rcode.to_text(response.rcode())
    result = {
        **base,
        "transport": transport,
        "rcode": rcode,
        "query_time_ms": query_ms,
        "flags": dns.flags.to_text(response.flags).split(),
        "ad": bool(response.flags & dns.flags.AD),
        "authoritative": bool(response.flags & dns.flags.AA),
        "truncated": bool(response.flags & dns.flags.TC),
        "answers": _records(response.answer),
        "authority": _records(response.authority),
    }
    if rcode == "NOERROR" or rcode_decides:
        return rec.ok(result)
    if rcode == "NXDOMAIN":
        return rec.failed("dns", f"NXDOMAIN: {base['qname']} does not exist", result)
    return rec.failed("dns", f"the resolver answered {rcode}", result)


def _records(section: list[dns.rrset.RRset]) -> list[dict[str, Any]]:
    records = []
    for rrset in section:
        for rdata in rrset:
            if rrset.rdtype == dns.rdatatype.TXT:
                value = "".join(s.decode("utf-8", "replace") for s in rdata.strings)
            else:
                value = rdata.to_text()
            records.append(
                {
                    "name": rrset.name.to_text(),
                    "type": dns.rdatatype.to_text(rrset.rdtype),
                    "ttl": rrset.ttl,
                    "value": value,
                }
            )
    return records


PROBE = ProbeKind(name="dns", options=DnsOptions, check_target=check_target, run=run)
