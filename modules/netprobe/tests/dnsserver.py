"""A tiny authoritative DNS server on loopback (UDP and TCP, same port) for the test zone.

Names: the apex netprobe.test. (SOA NS MX TXT CAA), www (A AAAA), alias (CNAME www),
_sip._tcp (SRV), secure (A, answered with the AD flag as a validating resolver would),
big (TXT larger than 512 bytes: truncated over UDP), slowbig (the same, each answer over UDP
and TCP sent after DELAY_S), slow (never answered), and PTR records
for 127.0.0.1 and ::1. Other names in the zone: NXDOMAIN; outside it: REFUSED.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import time

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from .background import Background

ZONE = dns.name.from_text("netprobe.test.")
RECORDS: tuple[tuple[str, int, str, str], ...] = (
    (
        "netprobe.test.",
        3600,
        "SOA",
        "ns1.netprobe.test. hostmaster.netprobe.test. 2024010101 3600 600 86400 300",
    ),
    ("netprobe.test.", 3600, "NS", "ns1.netprobe.test."),
    ("netprobe.test.", 300, "MX", "10 mail.netprobe.test."),
    ("netprobe.test.", 300, "TXT", '"v=spf1 -all"'),
    ("netprobe.test.", 300, "TXT", '"hello " "world"'),
    ("netprobe.test.", 300, "CAA", '0 issue "letsencrypt.org"'),
    ("ns1.netprobe.test.", 300, "A", "127.0.0.1"),
    ("www.netprobe.test.", 300, "A", "127.0.0.1"),
    ("www.netprobe.test.", 300, "AAAA", "::1"),
    ("alias.netprobe.test.", 120, "CNAME", "www.netprobe.test."),
    ("_sip._tcp.netprobe.test.", 300, "SRV", "10 60 5060 sip.netprobe.test."),
    ("secure.netprobe.test.", 300, "A", "127.0.0.2"),
    ("1.0.0.127.in-addr.arpa.", 300, "PTR", "www.netprobe.test."),
    (
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
        300,
        "PTR",
        "www.netprobe.test.",
    ),
    *(("big.netprobe.test.", 300, "TXT", f'"record-{i:02d}-{"z" * 60}"') for i in range(12)),
    *(("slowbig.netprobe.test.", 300, "TXT", f'"record-{i:02d}-{"z" * 60}"') for i in range(12)),
)
AUTHENTICATED = dns.name.from_text("secure.netprobe.test.")
SILENT = dns.name.from_text("slow.netprobe.test.")
DELAYED = dns.name.from_text("slowbig.netprobe.test.")
DELAY_S = 0.35
REVERSE_ZONES = (dns.name.from_text("in-addr.arpa."), dns.name.from_text("ip6.arpa."))


def _build() -> dict[tuple[dns.name.Name, int], dns.rrset.RRset]:
    table: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = {}
    for name, ttl, rdtype, value in RECORDS:
        rrset = dns.rrset.from_text(name, ttl, "IN", rdtype, value)
        key = (rrset.name, rrset.rdtype)
        if key in table:
            table[key].union_update(rrset)
        else:
            table[key] = rrset
    return table


class Zone:
    def __init__(self) -> None:
        self.table = _build()
        self.names = {name for name, _ in self.table}
        self.queries: list[tuple[str, str, str]] = []  # (transport, qname, qtype)

    def answer(self, wire: bytes, transport: str, max_size: int = 65535) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        question = query.question[0]
        self.queries.append(
            (transport, question.name.to_text(), dns.rdatatype.to_text(question.rdtype))
        )
        if question.name == SILENT:
            return None
        if question.name == DELAYED:
            time.sleep(DELAY_S)
        response = dns.message.make_response(query)
        self._fill(response, question.name, question.rdtype)
        if transport == "udp":
            limit = query.payload if query.edns >= 0 else 512
            try:
                return response.to_wire(max_size=min(limit, max_size))
            except dns.exception.TooBig:
                response = dns.message.make_response(query)
                response.flags |= dns.flags.TC | dns.flags.AA
                return response.to_wire()
        return response.to_wire()

    def _fill(self, response: dns.message.Message, name: dns.name.Name, rdtype: int) -> None:
        in_zone = name.is_subdomain(ZONE) or any(name.is_subdomain(z) for z in REVERSE_ZONES)
        if not in_zone:
            response.set_rcode(dns.rcode.REFUSED)
            return
        response.flags |= dns.flags.AA
        if name == AUTHENTICATED:
            response.flags |= dns.flags.AD
        cname = self.table.get((name, dns.rdatatype.CNAME))
        if cname is not None and rdtype != dns.rdatatype.CNAME:
            response.answer.append(cname)
            name = cname[0].target
        if name not in self.names:
            response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(self.table[(ZONE, dns.rdatatype.SOA)])
            return
        found = self.table.get((name, rdtype))
        if found is not None:
            response.answer.append(found)
        else:
            response.authority.append(self.table[(ZONE, dns.rdatatype.SOA)])


class _UDPHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        reply = self.server.zone.answer(data, "udp")  # type: ignore[attr-defined]
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TCPHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(5)
        try:
            while True:
                header = self._read(2)
                if not header:
                    return
                data = self._read(struct.unpack("!H", header)[0])
                reply = self.server.zone.answer(data, "tcp")  # type: ignore[attr-defined]
                if reply is None:
                    return
                self.request.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.request.recv(n - len(data))
            if not chunk:
                return b""
            data += chunk
        return data


class _UDP(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = False


class _TCP(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = False


class LoopbackDNSServer(Background):
    """`address` is "127.0.0.1:PORT" (or "[::1]:PORT"), the form the dns probe's resolver takes."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.zone = Zone()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _ in range(20):  # the UDP port number must also be free for TCP
            udp_cls = type("UDP", (_UDP,), {"address_family": family})
            tcp_cls = type("TCP", (_TCP,), {"address_family": family})
            self.udp = udp_cls((host, 0), _UDPHandler)
            try:
                self.tcp = tcp_cls((host, self.udp.server_address[1]), _TCPHandler)
            except OSError:
                self.udp.server_close()
                continue
            break
        else:
            raise RuntimeError("no free port for both UDP and TCP")
        for server in (self.udp, self.tcp):
            server.zone = self.zone  # type: ignore[attr-defined]
        self.host, self.port = host, self.udp.server_address[1]

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def _servers(self) -> tuple[socketserver.BaseServer, ...]:
        return (self.udp, self.tcp)

    def __repr__(self) -> str:
        return f"LoopbackDNSServer({self.address})"
