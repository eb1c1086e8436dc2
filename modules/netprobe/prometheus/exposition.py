"""NetProbe results under blackbox_exporter's metric names, written by prometheus_client.

Names, types and help texts are blackbox_exporter's (prober/handler.go, utils.go, http.go,
tcp.go, icmp.go, dns.go, prober.go), so dashboards and alerts written for it read Portal's
answers unchanged. What NetProbe does not measure is left out rather than reported as 0: the
ICMP resolve and setup phases, the DNS lookup time of a tcp or ping target, additional RRs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

# Every family is a gauge, as in blackbox_exporter.
HELP: dict[str, str] = {
    "probe_success": "Displays whether or not the probe was a success",
    "probe_duration_seconds": "Returns how long the probe took to complete in seconds",
    "probe_timeout_seconds": "Returns how long the probe timeout is in seconds",
    "probe_dns_lookup_time_seconds": "Returns the time taken for probe dns lookup in seconds",
    "probe_ip_protocol": "Specifies whether probe ip protocol is IP4 or IP6",
    "probe_ip_addr_hash": (
        "Specifies the hash of IP address. It's useful to detect if the IP address changes."
    ),
    "probe_http_duration_seconds": "Duration of http request by phase, summed over all redirects",
    "probe_http_content_length": "Length of http content response",
    "probe_http_uncompressed_body_length": "Length of uncompressed response body",
    "probe_http_redirects": "The number of redirects",
    "probe_http_ssl": "Indicates if SSL was used for the final redirect",
    "probe_http_status_code": "Response HTTP status code",
    "probe_http_version": "Returns the version of HTTP of the probe response",
    "probe_http_last_modified_timestamp_seconds": (
        "Returns the Last-Modified HTTP response header in unixtime"
    ),
    "probe_failed_due_to_regex": "Indicates if probe failed due to regex",
    "probe_ssl_earliest_cert_expiry": "Returns last SSL chain expiry in unixtime",
    "probe_ssl_last_chain_expiry_timestamp_seconds": "Returns last SSL chain expiry in timestamp",
    "probe_ssl_last_chain_info": "Contains SSL leaf certificate information",
    "probe_tls_version_info": "Returns the TLS version used or NaN when unknown",
    "probe_tls_cipher_info": "Returns the TLS cipher negotiated during handshake",
    "probe_icmp_duration_seconds": "Duration of icmp request by phase",
    "probe_dns_duration_seconds": "Duration of DNS request by phase",
    "probe_dns_answer_rrs": "Returns number of entries in the answer resource record list",
    "probe_dns_authority_rrs": "Returns number of entries in the authority resource record list",
    "probe_dns_query_succeeded": "Displays whether or not the query was executed successfully",
    "probe_dns_serial": "Returns the serial number of the zone",
    # Portal's own, for /metrics.
    "netprobe_monitor_up": "1 when the monitor is up, 0 when it is down (absent while unknown)",
    "netprobe_monitor_state": "1 for the monitor's current state (up, down, unknown, paused)",
    "netprobe_monitor_enabled": "1 when the monitor runs, 0 when it is paused",
    "netprobe_monitor_interval_seconds": "How often the monitor runs",
    "netprobe_monitor_consecutive_failures": "Failed checks in a row",
    "netprobe_monitor_last_run_timestamp_seconds": "When the monitor last ran, in unixtime",
}
# blackbox's phase name -> NetProbe's http timing (summed over the redirect chain).
HTTP_PHASES = (
    ("resolve", "dns_ms"),
    ("connect", "connect_ms"),
    ("tls", "tls_ms"),
    ("processing", "ttfb_ms"),
    ("transfer", "download_ms"),
)
TLS_VERSIONS = {
    "TLSv1": "TLS 1.0",
    "TLSv1.1": "TLS 1.1",
    "TLSv1.2": "TLS 1.2",
    "TLSv1.3": "TLS 1.3",
}
MONITOR_STATES = ("up", "down", "unknown", "paused")

Labels = Mapping[str, str]


class Families:
    """The metric families of one answer; a collector for a registry made per request."""

    def __init__(self) -> None:
        self._by_name: dict[str, GaugeMetricFamily] = {}

    def add(self, name: str, value: float, labels: Labels | None = None) -> None:
        labels = labels or {}
        family = self._by_name.get(name)
        if family is None:
            family = GaugeMetricFamily(name, HELP[name], labels=list(labels))
            self._by_name[name] = family
        family.add_metric(list(labels.values()), float(value))

    def names(self) -> list[str]:
        return list(self._by_name)

    def collect(self) -> Iterator[Metric]:
        yield from self._by_name.values()

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The text format the scraper asked for (Accept), as blackbox's promhttp does."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        encoder, content_type = choose_encoder(accept)
        return encoder(registry), content_type


@dataclass(frozen=True)
class Outcome:
    """One probe's result, from the engine (/probe) or a stored row (/metrics)."""

    kind: str
    success: bool
    duration_s: float
    result: Mapping[str, Any]
    address: str | None
    ip_version: int | None
    verify_tls: bool = True
    failed_due_to_regex: bool = False

    @classmethod
    def of_row(cls, row: Any) -> Outcome:
        options = row.options or {}
        return cls(
            kind=row.kind,
            success=row.status == "ok",
            duration_s=(row.duration_ms or 0.0) / 1000,
            result=row.result or {},
            address=(row.resolved or {}).get("used"),
            ip_version=row.ip_version,
            verify_tls=bool(options.get("verify_tls", True)),
        )


def add_outcome(families: Families, outcome: Outcome, labels: Labels | None = None) -> None:
    labels = dict(labels or {})
    families.add("probe_success", 1 if outcome.success else 0, labels)
    families.add("probe_duration_seconds", outcome.duration_s, labels)
    if outcome.address:
        families.add("probe_ip_protocol", outcome.ip_version or _version(outcome.address), labels)
        families.add("probe_ip_addr_hash", ip_hash(outcome.address), labels)
    by_kind = {"http": _http, "tcp": _tcp, "tls": _tls, "ping": _icmp, "dns": _dns}
    add = by_kind.get(outcome.kind)
    if add is not None:
        add(families, outcome, labels)


def _http(families: Families, outcome: Outcome, labels: dict[str, str]) -> None:
    r = outcome.result
    if "timings" not in r:
        return  # refused before the probe ran
    timings = r.get("timings") or {}
    for phase, key in HTTP_PHASES:
        families.add(
            "probe_http_duration_seconds", _s(timings.get(key)), {**labels, "phase": phase}
        )
    chain = r.get("chain") or []
    first = (chain[0].get("timings") or {}) if chain else {}
    if first.get("dns_ms") is not None:
        families.add("probe_dns_lookup_time_seconds", _s(first["dns_ms"]), labels)
    status = r.get("status_code")
    headers = r.get("headers") or {}
    families.add("probe_http_status_code", status or 0, labels)
    families.add("probe_http_content_length", _content_length(status, headers), labels)
    if not r.get("body_read_capped"):
        families.add("probe_http_uncompressed_body_length", r.get("body_size") or 0, labels)
    families.add("probe_http_redirects", r.get("redirects") or 0, labels)
    families.add("probe_http_ssl", 1 if r.get("tls") else 0, labels)
    families.add("probe_http_version", _http_version(r.get("http_version")), labels)
    regex_failed = (r.get("expectations") or {}).get("regex") == "fail"
    failed = regex_failed or outcome.failed_due_to_regex
    families.add("probe_failed_due_to_regex", 1 if failed else 0, labels)
    modified = _http_date(headers.get("last-modified"))
    if modified is not None:
        families.add("probe_http_last_modified_timestamp_seconds", modified, labels)
    tls = r.get("tls")
    if tls:
        chain_info = tls.get("chain") or []
        _session(families, labels, tls.get("version"), tls.get("cipher"))
        _certificates(families, labels, chain_info, verified=outcome.verify_tls)


def _tcp(families: Families, outcome: Outcome, labels: dict[str, str]) -> None:
    if outcome.result.get("received"):
        families.add("probe_failed_due_to_regex", 0, labels)  # no query_response in Portal


def _tls(families: Families, outcome: Outcome, labels: dict[str, str]) -> None:
    r = outcome.result
    if not r.get("protocol"):
        return  # no handshake
    families.add("probe_failed_due_to_regex", 0, labels)
    _session(families, labels, r.get("protocol"), r.get("cipher"))
    _certificates(families, labels, r.get("chain") or [], verified=bool(r.get("verified")))


def _icmp(families: Families, outcome: Outcome, labels: dict[str, str]) -> None:
    rtt = outcome.result.get("rtt_avg_ms")
    if rtt is not None:
        families.add("probe_icmp_duration_seconds", _s(rtt), {**labels, "phase": "rtt"})


def _dns(families: Families, outcome: Outcome, labels: dict[str, str]) -> None:
    r = outcome.result
    answered = "rcode" in r
    families.add("probe_dns_query_succeeded", 1 if answered else 0, labels)
    if not answered:
        return
    families.add(
        "probe_dns_duration_seconds", _s(r.get("query_time_ms")), {**labels, "phase": "request"}
    )
    answers = r.get("answers") or []
    families.add("probe_dns_answer_rrs", len(answers), labels)
    families.add("probe_dns_authority_rrs", len(r.get("authority") or []), labels)
    if r.get("record_type") == "SOA":
        serial = next((_soa_serial(a) for a in answers if a.get("type") == "SOA"), None)
        if serial is not None:
            families.add("probe_dns_serial", serial, labels)


def _session(families: Families, labels: dict[str, str], version: Any, cipher: Any) -> None:
    if version:
        name = TLS_VERSIONS.get(str(version), "unknown")
        families.add("probe_tls_version_info", 1, {**labels, "version": name})
    if cipher:
        families.add("probe_tls_cipher_info", 1, {**labels, "cipher": str(cipher)})


def _certificates(
    families: Families, labels: dict[str, str], chain: list[dict[str, Any]], *, verified: bool
) -> None:
    """blackbox's earliest expiry is over the presented chain; its "last chain" expiry is over
    the verified chain, for which the presented one stands in (the trust store's root is not
    presented), so it is given only when the chain was verified."""
    expiries = [_timestamp(c["not_after"]) for c in chain if c.get("not_after")]
    if not expiries:
        return
    families.add("probe_ssl_earliest_cert_expiry", min(expiries), labels)
    if verified:
        families.add("probe_ssl_last_chain_expiry_timestamp_seconds", min(expiries), labels)
    leaf = chain[0]
    families.add(
        "probe_ssl_last_chain_info",
        1,
        {
            **labels,
            "fingerprint_sha256": str(leaf.get("sha256_fingerprint") or "")
            .replace(":", "")
            .lower(),
            "subject": str(leaf.get("subject") or ""),
            "issuer": str(leaf.get("issuer") or ""),
            "subjectalternative": ",".join(n for n in leaf.get("sans") or [] if not _is_ip(n)),
            "serialnumber": _serial(leaf.get("serial")),
        },
    )


def add_monitor_state(families: Families, monitor: Any, labels: Labels) -> None:
    """Portal's own gauges for one monitor (its probe_* come from its last result)."""
    labels = dict(labels)
    state = str(monitor.state)
    if state in ("up", "down"):
        families.add("netprobe_monitor_up", 1 if state == "up" else 0, labels)
    for name in dict.fromkeys((*MONITOR_STATES, state)):  # a state added later shows too
        families.add("netprobe_monitor_state", 1 if name == state else 0, {**labels, "state": name})
    families.add("netprobe_monitor_enabled", 1 if monitor.enabled else 0, labels)
    families.add("netprobe_monitor_interval_seconds", monitor.interval_s, labels)
    families.add("netprobe_monitor_consecutive_failures", monitor.consecutive_failures, labels)
    if monitor.last_run_at is not None:
        families.add(
            "netprobe_monitor_last_run_timestamp_seconds", monitor.last_run_at.timestamp(), labels
        )


def ip_hash(address: str) -> float:
    """blackbox's ipHash: FNV-1a (32 bit) of the address's 4 or 16 bytes."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # Go's To4() takes the mapped form as IPv4
    value = 0x811C9DC5
    for byte in ip.packed:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return float(value)


def _version(address: str) -> int:
    return ipaddress.ip_address(address.split("%")[0]).version


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _s(milliseconds: Any) -> float:
    return float(milliseconds) / 1000 if isinstance(milliseconds, int | float) else 0.0


def _content_length(status: Any, headers: Mapping[str, str]) -> int:
    """Go's Response.ContentLength: the header's value, -1 when the length is unknown."""
    if not status:
        return 0
    try:
        return int(headers.get("content-length", ""))
    except ValueError:
        return -1


def _http_version(text: Any) -> float:
    try:
        return float(str(text).removeprefix("HTTP/"))
    except ValueError:
        return 0.0


def _http_date(text: Any) -> float | None:
    if not text:
        return None
    try:
        return parsedate_to_datetime(str(text)).timestamp()
    except (TypeError, ValueError):
        return None


def _timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _serial(text: Any) -> str:
    """Go's "%x" of the serial's bytes: lower case, an even number of digits."""
    digits = str(text or "").lower()
    return digits.zfill(len(digits) + len(digits) % 2)


def _soa_serial(record: Mapping[str, Any]) -> int | None:
    parts = str(record.get("value") or "").split()
    return int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
