"""The probe options as people see them, for every edge: the UI form, the admin, the API schema
and the CLI flags. Django-free.

Names, value types, defaults and choices come from each kind's options dataclass (its fields'
types and defaults); `TEXTS` adds the words: one label and one help text per option. The rules
stay in the dataclasses' `from_mapping`: the edges describe options, the engine validates them.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from . import KINDS, get_kind

# "lines": a list written one item per line (its items hold spaces and commas).
ValueType = Literal["bool", "int", "float", "str", "choice", "list", "lines"]


@dataclass(frozen=True)
class Text:
    label: str
    help: str
    # What leaving the option out means, where the dataclass default (None, ()) does not say.
    blank: str = ""
    # The CLI flag, where --<name> (or --no-<name> for a switch that is on) reads badly.
    flag: str = ""
    # Per-kind changes to label, help or blank.
    kinds: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    lines: bool = False  # a list option written one item per line


# What a target looks like, per kind.
TARGETS: dict[str, str] = {
    "http": "a URL, e.g. https://example.com/",
    "dns": "a domain name, e.g. example.com (an IP address for PTR)",
    "tcp": "host:port, e.g. example.com:443",
    "tls": "host or host:port, e.g. example.com",
    "ping": "a host name or IP address",
    "traceroute": "a host name or IP address",
}

TEXTS: dict[str, Text] = {
    "timeout": Text("Timeout (s)", "seconds (per packet for tcp, ping and traceroute)"),
    "ip_version": Text("IP version", "auto, 4 or 6", blank="auto"),
    "record_type": Text("Record type", "the DNS record type to ask for"),
    "resolver": Text("Resolver", "IP or IP:port", blank="system resolver"),
    "transport": Text("Transport", "udp (retried over tcp when truncated) or tcp"),
    "dnssec": Text("Ask for DNSSEC (AD flag)", "ask for DNSSEC records and the AD flag"),
    "port": Text(
        "Port",
        "the port, when not in the target",
        kinds={"tcp": {"blank": "from the target"}, "tls": {"blank": "443"}},
    ),
    "count": Text(
        "Count",
        "packets to send",
        kinds={"traceroute": {"label": "Probes per hop", "help": "echo requests per hop"}},
    ),
    "interval": Text("Interval (s)", "seconds between packets"),
    "method": Text("Method", "GET or HEAD"),
    "follow_redirects": Text("Follow redirects", "follow redirects", flag="--no-follow"),
    "max_redirects": Text("Max redirects", "redirects followed at most"),
    "verify_tls": Text(
        "Verify TLS certificate",
        "fail on a certificate that does not verify",
        flag="--insecure",
        kinds={"tls": {"label": "Verify the chain"}},
    ),
    "expect_status": Text(
        "Accepted status", "accepted status codes, e.g. 200, 2xx, 301-308", blank="200-399"
    ),
    "keyword": Text("Body contains", "a keyword the first 64 KiB of the body must contain"),
    "regex": Text("Body matches (regex)", "a regular expression searched in the first 64 KiB"),
    "body_excerpt_bytes": Text("Body excerpt (bytes)", "bytes of the body kept in the result"),
    "starttls": Text("STARTTLS", "upgrade an smtp, imap or pop3 connection to TLS first"),
    "servername": Text("Server name (SNI)", "SNI and the name to verify", blank="the target host"),
    "max_hops": Text("Max hops", "hops tried at most"),
    "reverse_dns": Text("Reverse DNS names", "look up the hops' names"),
    "conditions": Text(
        "Conditions",
        "one per line, all must hold (Gatus syntax); [RESPONSE_TIME] < 300, [CONNECTED] == true,"
        " [IP] == pat(10.*)",
        flag="--condition",
        lines=True,
        kinds={
            "http": {
                "help": "one per line, all must hold (Gatus syntax); [STATUS] == 200,"
                " [BODY].status == UP, len([BODY].data) < 5, [HEADERS].content-type =="
                " pat(*json*), [RESPONSE_TIME] < 300, [CERTIFICATE_EXPIRATION] > 48h"
            },
            "tls": {
                "help": "one per line, all must hold (Gatus syntax); [CONNECTED] == true,"
                " [CERTIFICATE_EXPIRATION] > 48h, [RESPONSE_TIME] < 300"
            },
            "dns": {
                "help": "one per line, all must hold (Gatus syntax); [DNS_RCODE] == NOERROR,"
                " [BODY] == 93.184.215.14, [RESPONSE_TIME] < 100"
            },
        },
    ),
}


@dataclass(frozen=True)
class OptionInfo:
    """One option of one kind."""

    kind: str
    name: str
    type: ValueType
    # For a choice: the values, the blank one ("" or "auto") first when the option may be left out.
    choices: tuple[str, ...]
    default: Any  # the dataclass default
    label: str
    help: str
    blank: str  # what an empty field means: the default as people read it

    @property
    def flag(self) -> str:
        text = TEXTS[self.name].flag
        if text:
            return text
        dashed = self.name.replace("_", "-")
        return f"--no-{dashed}" if self.default is True else f"--{dashed}"


@cache
def kind_options(kind: str) -> tuple[OptionInfo, ...]:
    """The options of `kind`, in the order of its dataclass."""
    options = get_kind(kind).options
    hints = typing.get_type_hints(options)
    return tuple(_info(kind, f, hints[f.name]) for f in dataclasses.fields(options))  # type: ignore[arg-type]


@cache
def options_by_name() -> dict[str, tuple[OptionInfo, ...]]:
    """Every option name, with the kinds that take it (in KINDS order)."""
    by_name: dict[str, list[OptionInfo]] = {}
    for kind in KINDS:
        for info in kind_options(kind):
            by_name.setdefault(info.name, []).append(info)
    return {name: tuple(infos) for name, infos in by_name.items()}


def described_help(infos: tuple[OptionInfo, ...]) -> str:
    """One help line for an option several kinds share: "tcp, ping: packets to send; ..."."""
    groups: dict[str, list[str]] = {}
    for info in infos:
        groups.setdefault(info.help, []).append(info.kind)
    if len(groups) == 1 and len(infos) == len(KINDS):
        return infos[0].help
    return "; ".join(f"{', '.join(kinds)}: {text}" for text, kinds in groups.items())


def target_help() -> str:
    return "; ".join(f"{kind}: {text}" for kind, text in TARGETS.items())


def _info(kind: str, spec: dataclasses.Field[Any], hint: Any) -> OptionInfo:
    text = TEXTS.get(spec.name)
    if text is None:
        raise LookupError(f"probes.catalog.TEXTS has no entry for the {kind} option {spec.name!r}")
    words = {"label": text.label, "help": text.help, "blank": text.blank}
    words.update(text.kinds.get(kind, {}))
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (hint,) = (a for a in typing.get_args(hint) if a is not type(None))
        optional = True
    value_type: ValueType
    choices: tuple[str, ...] = ()
    if typing.get_origin(hint) is Literal:
        value_type = "choice"
        choices = tuple(str(a) for a in typing.get_args(hint))
        if optional:
            choices = (words["blank"], *choices)
    elif typing.get_origin(hint) is tuple:
        value_type = "lines" if text.lines else "list"
    else:
        value_type = {bool: "bool", int: "int", float: "float", str: "str"}[hint]
    default = spec.default
    if default not in (None, ()) and not isinstance(default, bool):
        words["blank"] = f"{default:g}" if isinstance(default, float) else str(default)
    return OptionInfo(
        kind=kind, name=spec.name, type=value_type, choices=choices, default=default, **words
    )
