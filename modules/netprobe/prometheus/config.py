"""blackbox_exporter's modules (the `modules:` of blackbox.yml) read into NetProbe probe specs.

Only what maps truthfully onto a NetProbe probe is accepted. Any other field stops start-up
with its path named: a module that silently ignored `headers:` or `query_response:` would
measure something other than what its author wrote. Django-free: settings.py checks an
operator's file with it before the first request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from modules.netprobe import probes
from modules.netprobe.probes import Limits, ProbeOptionsError

PROBERS = ("http", "tcp", "icmp", "dns")
MODULE_FIELDS = ("prober", "timeout", *PROBERS)
HTTP_FIELDS = (
    "valid_status_codes",
    "valid_http_versions",
    "method",
    "follow_redirects",
    "no_follow_redirects",
    "fail_if_ssl",
    "fail_if_not_ssl",
    "fail_if_body_matches_regexp",
    "fail_if_body_not_matches_regexp",
    "tls_config",
    "preferred_ip_protocol",
    "ip_protocol_fallback",
    "enable_http2",  # accepted and ignored: NetProbe speaks HTTP/1.1
)
TCP_FIELDS = ("tls", "tls_config", "preferred_ip_protocol", "ip_protocol_fallback")
ICMP_FIELDS = ("preferred_ip_protocol", "ip_protocol_fallback")
DNS_FIELDS = (
    "query_name",
    "query_type",
    "query_class",
    "transport_protocol",
    "recursion_desired",
    "valid_rcodes",
    # The server is given as an IP address, so there is nothing to resolve: accepted, unused.
    "preferred_ip_protocol",
    "ip_protocol_fallback",
)
RCODES = (
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
)
# The body is searched as far as NetProbe keeps it (MATCH_BYTES of httpcheck).
BODY_SEARCH_BYTES = 65_536

# The modules every Portal serves, named as in blackbox_exporter's blackbox.yml. `dns` has no
# query_name (blackbox requires one): the target is then the name, asked of the system resolver.
BUILTIN: dict[str, dict[str, Any]] = {
    "http_2xx": {"prober": "http", "http": {"preferred_ip_protocol": "ip4"}},
    "tcp_connect": {"prober": "tcp"},
    "icmp": {"prober": "icmp"},
    "dns": {"prober": "dns"},
}

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(ValueError):
    """A modules file Portal cannot serve; the message names the field."""


@dataclass(frozen=True)
class Checks:
    """What blackbox_exporter judges that NetProbe's own result leaves to the exporter."""

    fail_if_ssl: bool = False
    fail_if_not_ssl: bool = False
    valid_http_versions: tuple[str, ...] = ()
    fail_if_body_matches: tuple[str, ...] = ()
    valid_rcodes: tuple[str, ...] = ("NOERROR",)


@dataclass(frozen=True)
class Module:
    name: str
    prober: str  # blackbox's: http, tcp, icmp, dns
    kind: str  # NetProbe's: http, tcp, tls, ping, dns
    options: dict[str, Any]
    timeout_s: float | None = None  # None: the scrape's timeout decides
    query_name: str | None = None  # dns: the name asked; the target is then the server
    checks: Checks = Checks()
    config: dict[str, Any] = field(default_factory=dict, compare=False)

    def probe(self, target: str, timeout_s: float) -> tuple[str, dict[str, Any]]:
        """NetProbe's target and options for one scrape of `target`."""
        options = {**self.options, "timeout": timeout_s}
        if self.kind == "http" and not target.lower().startswith(("http://", "https://")):
            target = f"http://{target}"  # as blackbox_exporter does
        if self.query_name is not None:
            options["resolver"] = target
            target = self.query_name
        return target, options


class _Fields:
    """One mapping of the file, read field by field; `path` names it in errors."""

    def __init__(self, path: str, raw: Any, allowed: tuple[str, ...]) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{path}: must be a mapping")
        unknown = sorted(str(key) for key in raw if key not in allowed)
        if unknown:
            raise ConfigError(
                f"{path}.{unknown[0]}: not supported by Portal's /probe "
                f"(supported here: {', '.join(allowed)})"
            )
        self.path, self.raw = path, raw

    def sub(self, name: str, allowed: tuple[str, ...]) -> _Fields:
        return _Fields(f"{self.path}.{name}", self.raw.get(name), allowed)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError(f"{self.path}.{name}: must be true or false")
        return value

    def text(self, name: str, default: str = "") -> str:
        value = self.raw.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            raise ConfigError(f"{self.path}.{name}: must be a string")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(name, default) or default
        if value not in choices:
            raise ConfigError(f"{self.path}.{name}: must be one of {', '.join(choices)}")
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.raw.get(name)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{self.path}.{name}: must be a list of strings")
        return tuple(value)

    def integers(self, name: str) -> tuple[int, ...]:
        value = self.raw.get(name)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ConfigError(f"{self.path}.{name}: must be a list of integers")
        return tuple(value)

    def ip_version(self) -> int | None:
        """blackbox prefers ip6 and falls back to the other family unless told not to; NetProbe
        pins a family only when there is no fallback (with one, the resolver's order decides)."""
        preferred = self.choice("preferred_ip_protocol", "ip6", ("ip4", "ip6"))
        if self.boolean("ip_protocol_fallback", True):
            return None
        return 4 if preferred == "ip4" else 6


def parse_duration(text: Any, path: str) -> float:
    """A Go/Prometheus duration ("5s", "1m30s", "500ms") in seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text)
    if not isinstance(text, str) or not text:
        raise ConfigError(f"{path}: must be a duration such as 5s or 1m30s")
    total, position = 0.0, 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        position = match.end()
    if position != len(text):
        raise ConfigError(f"{path}: {text!r} is not a duration such as 5s or 1m30s")
    return total


def parse_modules(raw: Any) -> dict[str, Module]:
    """The `modules:` of a blackbox_exporter configuration, as NetProbe probes."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("modules"), Mapping):
        raise ConfigError("expected a top-level `modules:` mapping, as in blackbox.yml")
    extra = sorted(str(key) for key in raw if key != "modules")
    if extra:
        raise ConfigError(f"{extra[0]}: not supported (a modules file holds `modules:` only)")
    return {str(name): _module(str(name), body) for name, body in raw["modules"].items()}


def _module(name: str, body: Any) -> Module:
    path = f"modules.{name}"
    fields = _Fields(path, body, MODULE_FIELDS)
    prober = fields.text("prober")
    if prober not in PROBERS:
        raise ConfigError(
            f"{path}.prober: {prober!r} is not supported (Portal runs {', '.join(PROBERS)})"
        )
    timeout = fields.raw.get("timeout")
    timeout_s = parse_duration(timeout, f"{path}.timeout") if timeout is not None else None
    if timeout_s is not None and timeout_s <= 0:
        timeout_s = None  # blackbox: 0 means the scrape's timeout
    section = fields.sub(prober, _SECTIONS[prober][0])
    kind, options, checks, query_name = _SECTIONS[prober][1](section)
    try:
        probes.parse_options(kind, options, Limits(max_timeout_s=3600, max_duration_s=3600))
    except ProbeOptionsError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return Module(
        name=name,
        prober=prober,
        kind=kind,
        options=options,
        timeout_s=timeout_s,
        query_name=query_name,
        checks=checks,
        config=dict(body or {}),
    )


Parsed = tuple[str, dict[str, Any], Checks, str | None]


def _http(f: _Fields) -> Parsed:
    tls = f.sub("tls_config", ("insecure_skip_verify",))
    codes = f.integers("valid_status_codes")
    options: dict[str, Any] = {
        "method": f.choice("method", "GET", ("GET", "HEAD")),
        "expect_status": [str(code) for code in codes] or ["2xx"],
        "follow_redirects": f.boolean("follow_redirects", True)
        and not f.boolean("no_follow_redirects", False),
        "verify_tls": not tls.boolean("insecure_skip_verify", False),
    }
    f.boolean("enable_http2", True)
    _set_ip_version(options, f)
    required = f.strings("fail_if_body_not_matches_regexp")
    if len(required) == 1:
        options["regex"] = required[0]
    elif required:
        # Every pattern must match somewhere: one search, a lookahead per pattern.
        options["regex"] = "".join(f"(?=[\\s\\S]*?(?:{pattern}))" for pattern in required)
    refused = f.strings("fail_if_body_matches_regexp")
    for pattern in (*required, *refused):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{f.path}: {pattern!r} is not a regular expression: {exc}") from None
    if refused:
        options["body_excerpt_bytes"] = BODY_SEARCH_BYTES
    checks = Checks(
        fail_if_ssl=f.boolean("fail_if_ssl", False),
        fail_if_not_ssl=f.boolean("fail_if_not_ssl", False),
        valid_http_versions=f.strings("valid_http_versions"),
        fail_if_body_matches=refused,
    )
    return "http", options, checks, None


def _tcp(f: _Fields) -> Parsed:
    options: dict[str, Any] = {}
    _set_ip_version(options, f)
    if not f.boolean("tls", False):
        return "tcp", {**options, "count": 1}, Checks(), None
    tls = f.sub("tls_config", ("insecure_skip_verify", "server_name"))
    options["verify_tls"] = not tls.boolean("insecure_skip_verify", False)
    if tls.text("server_name"):
        options["servername"] = tls.text("server_name")
    return "tls", options, Checks(), None


def _icmp(f: _Fields) -> Parsed:
    options: dict[str, Any] = {"count": 1}
    _set_ip_version(options, f)
    return "ping", options, Checks(), None


def _dns(f: _Fields) -> Parsed:
    f.ip_version()  # read for its errors only (see DNS_FIELDS)
    f.choice("query_class", "IN", ("IN",))
    if not f.boolean("recursion_desired", True):
        raise ConfigError(f"{f.path}.recursion_desired: NetProbe always asks for recursion")
    rcodes = tuple(code.upper() for code in f.strings("valid_rcodes")) or ("NOERROR",)
    unknown = [code for code in rcodes if code not in RCODES]
    if unknown:
        raise ConfigError(f"{f.path}.valid_rcodes: {unknown[0]!r} is not a DNS rcode")
    options = {
        "record_type": f.text("query_type", "A").upper() or "A",
        "transport": f.choice("transport_protocol", "udp", ("udp", "tcp")),
    }
    query_name = f.text("query_name").strip() or None
    return "dns", options, Checks(valid_rcodes=rcodes), query_name


def _set_ip_version(options: dict[str, Any], f: _Fields) -> None:
    version = f.ip_version()
    if version is not None:
        options["ip_version"] = version


_SECTIONS = {
    "http": (HTTP_FIELDS, _http),
    "tcp": (TCP_FIELDS, _tcp),
    "icmp": (ICMP_FIELDS, _icmp),
    "dns": (DNS_FIELDS, _dns),
}


def read_modules(path: str) -> dict[str, Module]:
    """An operator's modules file: blackbox.yml's shape, in YAML or (.json) JSON."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        if path.lower().endswith(".json"):
            raw = json.loads(text)
        else:
            import yaml  # only for an operator's file: the portal starts without it

            raw = yaml.safe_load(text)
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    except Exception as exc:  # yaml.YAMLError, without importing yaml at module load
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    return parse_modules(raw)


@lru_cache(maxsize=4)
def available_modules(path: str = "") -> Mapping[str, Module]:
    """The built-in modules, then the operator's file (a module of the same name wins)."""
    modules = parse_modules({"modules": BUILTIN})
    if path:
        modules.update(read_modules(path))
    return MappingProxyType(modules)
