"""Reading user options (JSON from the API, strings from the CLI) into typed, bounded values."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
from collections.abc import Collection, Iterable, Mapping
from typing import Any, get_args

from .base import IpVersion, Limits, ProbeOptionsError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
# One label, matched on its own: a pattern repeating labels with an optional dot backtracks
# exponentially on a long dotless name (a redirect's Location is attacker-supplied).
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_MAX_INTEGER_DIGITS = 20  # past this a value is out of any bound; int() refuses > 4300 digits
NUL_MESSAGE = "must not contain NUL characters"
IP_VERSIONS = ("auto", *(str(v) for v in get_args(IpVersion)))


class OptionReader:
    """Collects every field error, so one 400 answer lists them all."""

    def __init__(self, raw: Mapping[str, Any] | None, known: Iterable[str]) -> None:
        self.raw = dict(raw or {})
        self.errors: dict[str, str] = {}
        for name in self.raw.keys() - set(known):
            self.errors[name] = "unknown option"

    def present(self, name: str) -> bool:
        return self.raw.get(name) is not None

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def raise_if_errors(self) -> None:
        if self.errors:
            raise ProbeOptionsError(self.errors)

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            if len(value.strip()) > _MAX_INTEGER_DIGITS:
                self.error(name, f"must be between {lo} and {hi}")
                return default
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(name, "must be an integer")
            return default
        if not lo <= value <= hi:
            self.error(name, f"must be between {lo} and {hi}")
            return default
        return value

    def number(self, name: str, default: float, lo: float, hi: float) -> float:
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            self.error(name, "must be a number")
            return default
        if not lo <= value <= hi:
            self.error(name, f"must be between {lo:g} and {hi:g}")
            return default
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        self.error(name, "must be true or false")
        return default

    def choice(self, name: str, default: str, choices: Collection[str]) -> str:
        value = self.raw.get(name)
        if value is None:
            return default
        text = str(value).strip()
        match = {c.lower(): c for c in choices}.get(text.lower())
        if match is None:
            self.error(name, f"must be one of {', '.join(choices)}")
            return default
        return match

    def string(self, name: str, max_length: int = 1024) -> str | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.error(name, "must be a string")
            return None
        if "\x00" in value:  # PostgreSQL stores no NUL in text or JSON
            self.error(name, NUL_MESSAGE)
            return None
        if len(value) > max_length:
            self.error(name, f"must be at most {max_length} characters")
            return None
        return value

    def strings(self, name: str, max_items: int = 32) -> tuple[str, ...]:
        value = self.raw.get(name)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [part for part in re.split(r"[,\s]+", value) if part]
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list | tuple) or len(value) > max_items:
            self.error(name, f"must be a list of at most {max_items} items")
            return ()
        items = tuple(str(item).strip() for item in value)
        if any("\x00" in item for item in items):
            self.error(name, NUL_MESSAGE)
            return ()
        return items

    def timeout(self, limits: Limits) -> float:
        return self.number("timeout", limits.default_timeout_s, 0.01, limits.max_timeout_s)

    def ip_version(self) -> int | None:
        value = self.choice("ip_version", "auto", IP_VERSIONS)
        return None if value == "auto" else int(value)


def family_for(ip_version: int | None) -> int:
    return {4: socket.AF_INET, 6: socket.AF_INET6}.get(ip_version or 0, socket.AF_UNSPEC)


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def ascii_host(host: str) -> str | None:
    """The host as sent on the wire (IDNA for an internationalized name); None when invalid."""
    if is_ip(host):
        return host
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host if _valid_name(host) else None


def _valid_name(host: str) -> bool:
    """Labels of 1-63 letters, digits, "_" or "-" (not at either end), at most 253 characters
    in all; a trailing dot (fully qualified) is allowed."""
    name = host.removesuffix(".")
    if not 1 <= len(name) <= 253:
        return False
    return all(_LABEL.fullmatch(label) for label in name.split("."))


def _is_port(text: str) -> bool:
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    return text.isascii() and text.isdecimal() and len(text) <= 5 and 1 <= int(text) <= 65535


def split_host_port(target: str, port: int | None, default_port: int | None) -> tuple[str, int]:
    """Parse "host", "host:port", "[v6]:port" or a bare IPv6 address; an explicit port wins."""
    text = target.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ProbeOptionsError({"target": "expected [IPv6]:port"})
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    checked = ascii_host(host)
    if checked is None:
        raise ProbeOptionsError({"target": "not a valid host name or IP address"})
    if port_text and not _is_port(port_text):
        raise ProbeOptionsError({"target": "port must be between 1 and 65535"})
    chosen = port or (int(port_text) if port_text else None) or default_port
    if not chosen:
        raise ProbeOptionsError({"port": "a port is required (target host:port or option port)"})
    return checked, chosen


def resolver_address(text: str, reader: OptionReader) -> tuple[str, int] | None:
    """A resolver given as IP, IP:port or [IPv6]:port."""
    host, port_text = text.strip(), "53"
    if host.startswith("[") and "]" in host:
        host, _, rest = host[1:].partition("]")
        port_text = rest.removeprefix(":") or "53"
    elif host.count(":") == 1:
        host, port_text = host.split(":")
    if not is_ip(host):
        reader.error("resolver", "must be an IP address, optionally with :port")
        return None
    if not _is_port(port_text):
        reader.error("resolver", "port must be between 1 and 65535")
        return None
    return host, int(port_text)
