"""Conditions on a probe's result, in Gatus's language. Django-free.

    [STATUS] == 200            [BODY].status == UP          [RESPONSE_TIME] < 300
    len([BODY].data) < 5       [BODY] == pat(*Hello*)       [STATUS] == any(200, 429)
    [CERTIFICATE_EXPIRATION] > 48h                          [HEADERS].content-type == pat(*json*)

`parse()` turns one condition into a `Condition` (operands with their positions) or raises
`ConditionError(message, position)`; `evaluate()` resolves it against the `Facts` of one result.

The meaning follows Gatus (config/endpoint/condition.go, placeholder.go, jsonpath, pattern):
values are strings; `==`/`!=` compare two integers as integers and anything else as text;
`<`, `<=`, `>`, `>=` read each side as a duration ("48h", "1h30m", "300ms": milliseconds), an
integer, a float (truncated) or else 0; a JSON path that does not resolve compares as the text
"<operand> (INVALID)". Where Gatus accepts a typo silently (an unknown placeholder becomes a
literal, `pat()` beside `<` becomes 0), here it is a parse error that points at the typo.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from modules.netprobe.condvalues import (
    MISSING,
    PathStep,
    PatternError,
    format_duration,
    glob_match,
    glob_tokens,
    go_int,
    json_text,
    parse_duration_ms,
    walk,
)

# Gatus looks for the operators in this order, each with a space on both sides.
OPERATORS = ("==", "!=", "<=", ">=", ">", "<")
EQUALITY = ("==", "!=")
PLACEHOLDERS = (
    "STATUS",
    "RESPONSE_TIME",
    "BODY",
    "HEADERS",
    "IP",
    "CONNECTED",
    "DNS_RCODE",
    "CERTIFICATE_EXPIRATION",
)
NOT_HERE = {
    # RDAP/WHOIS asks a registry on the internet; a probe answers from its own exchange only.
    "DOMAIN_EXPIRATION": "[DOMAIN_EXPIRATION] is not supported (it needs an RDAP or WHOIS query)",
    "CONTEXT": "[CONTEXT] is not supported (Gatus suites only)",
}
INVALID_SUFFIX = "(INVALID)"
MAX_VALUE_CHARS = 100  # of a resolved value kept in the result

_NAME = re.compile(r"\[([A-Za-z_]+)\]")
_FUNCTION = re.compile(r"(len|has|pat|any)\(")
_KEY = re.compile(r"[^.\[\]\s]+")
_HEADER = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 9110 token

Function = Literal["len", "has", "pat", "any"]


class ConditionError(ValueError):
    """A condition that does not parse; `position` is a 0-based offset into its text."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"at position {position}: {message}")
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Placeholder:
    name: str  # one of PLACEHOLDERS
    path: tuple[PathStep, ...] = ()  # [BODY]: keys and indexes; [HEADERS]: one lower-case name
    position: int = 0
    text: str = ""


@dataclass(frozen=True)
class Constant:
    text: str
    position: int = 0


@dataclass(frozen=True)
class Call:
    function: Function
    argument: Placeholder | None = None  # len() and has()
    values: tuple[str, ...] = ()  # pat(): the pattern; any(): the choices
    position: int = 0
    text: str = ""


Operand = Placeholder | Constant | Call


@dataclass(frozen=True)
class Condition:
    text: str
    left: Operand
    operator: str
    right: Operand

    @property
    def placeholders(self) -> frozenset[str]:
        names = set()
        for side in (self.left, self.right):
            if isinstance(side, Placeholder):
                names.add(side.name)
            elif isinstance(side, Call) and side.argument is not None:
                names.add(side.argument.name)
        return frozenset(names)


@dataclass(frozen=True)
class Facts:
    """What placeholders resolve to, for one probe result."""

    status: int | None = None
    response_time_ms: float | None = None
    body: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    ip: str | None = None
    connected: bool = False
    dns_rcode: str | None = None
    certificate_expiration_ms: int | None = None


@dataclass(frozen=True)
class Outcome:
    condition: str
    success: bool
    value: str | None  # the resolved placeholder side, shortened; None when it did not resolve
    shown: str  # the condition with its resolved values, as Gatus shows a failed one

    def to_dict(self) -> dict[str, object]:
        return {"condition": self.condition, "success": self.success, "value": self.value}


# --- parsing --------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def parse(text: str, available: frozenset[str] | None = None) -> Condition:
    """One condition; `available` limits the placeholders (a kind's). Raises ConditionError."""
    found = [(text.find(f" {op} "), op) for op in OPERATORS]
    at, operator = next(((i, op) for i, op in found if i >= 0), (-1, ""))
    if at < 0:
        bare = re.search(r"[=!<>]=?", text)
        where = bare.start() if bare else len(text)
        raise ConditionError(
            "expected an operator (==, !=, <, <=, >, >=) with a space on each side", where
        )
    start_right = at + len(operator) + 2
    again = text.find(f" {operator} ", start_right - 1)
    if again >= 0:
        raise ConditionError(f"a second {operator}: one operator per condition", again + 1)
    left = _operand(text, 0, at, available)
    right = _operand(text, start_right, len(text), available)
    for side in (left, right):
        if isinstance(side, Call) and side.function in ("pat", "any") and operator not in EQUALITY:
            raise ConditionError(f"{side.function}() works only with == and !=", side.position)
    if all(isinstance(s, Call) and s.function in ("pat", "any") for s in (left, right)):
        raise ConditionError("pat() and any() compare with a value, not with each other", 0)
    return Condition(text=text, left=left, operator=operator, right=right)


def _operand(text: str, start: int, end: int, available: frozenset[str] | None) -> Operand:
    raw = text[start:end]
    stripped = raw.strip()
    if not stripped:
        raise ConditionError("expected a value", start)
    pos = start + (len(raw) - len(raw.lstrip()))
    call = _FUNCTION.match(stripped)
    if call:
        name: Function = call.group(1)  # type: ignore[assignment]
        if not stripped.endswith(")"):
            raise ConditionError(f"{name}( is not closed by )", pos + len(stripped))
        inner_at = pos + call.end()
        inner = stripped[call.end() : -1]
        if name in ("len", "has"):
            if not inner.strip().startswith("["):
                raise ConditionError(f"{name}() takes a placeholder, e.g. [BODY].data", inner_at)
            lead = len(inner) - len(inner.lstrip())
            argument = _placeholder(inner.strip(), inner_at + lead, available)
            return Call(name, argument=argument, position=pos, text=stripped)
        if name == "pat":
            try:
                glob_tokens(inner)
            except PatternError as exc:
                raise ConditionError(exc.message, inner_at + exc.position) from None
            return Call(name, values=(inner,), position=pos, text=stripped)
        choices = tuple(c.strip() for c in inner.split(","))
        return Call(name, values=choices, position=pos, text=stripped)
    if _NAME.match(stripped):
        return _placeholder(stripped, pos, available)
    if _FUNCTION.match(stripped.lower()):
        raise ConditionError(f"functions are written in lower case: {stripped[:3].lower()}(", pos)
    return Constant(stripped, pos)


def _placeholder(text: str, pos: int, available: frozenset[str] | None) -> Placeholder:
    match = _NAME.match(text)
    if match is None:
        raise ConditionError("expected a placeholder such as [BODY]", pos)
    name = match.group(1).upper()
    if name in NOT_HERE:
        raise ConditionError(NOT_HERE[name], pos)
    if name not in PLACEHOLDERS:
        known = ", ".join(f"[{p}]" for p in PLACEHOLDERS if available is None or p in available)
        raise ConditionError(f"unknown placeholder [{match.group(1)}] (known: {known})", pos)
    if available is not None and name not in available:
        raise ConditionError(f"[{name}] is not available for this kind of probe", pos)
    rest, rest_at = text[match.end() :], pos + match.end()
    path: tuple[PathStep, ...] = ()
    if name == "BODY":
        path = _body_path(rest, rest_at)
    elif name == "HEADERS":
        header = _HEADER.fullmatch(rest[1:]) if rest.startswith(".") else None
        if header is None:
            raise ConditionError("expected a header name, e.g. [HEADERS].content-type", rest_at)
        path = (rest[1:].lower(),)
    elif rest:
        raise ConditionError(f"unexpected text after [{name}]", rest_at)
    return Placeholder(name, path, pos, text)


def _body_path(rest: str, at: int) -> tuple[PathStep, ...]:
    """`.a.b[0]`, `[0].id` or nothing: the keys and indexes into the JSON body."""
    steps: list[PathStep] = []
    i = 0
    while i < len(rest):
        if rest[i] == ".":
            key = _KEY.match(rest, i + 1)
            if key is None:
                raise ConditionError("expected a key after .", at + i + 1)
            steps.append(key.group())
            i = key.end()
        elif rest[i] == "[":
            index = re.compile(r"\[([0-9]{1,9})\]").match(rest, i)
            if index is None:
                raise ConditionError("expected an index such as [0]", at + i)
            steps.append(int(index.group(1)))
            i = index.end()
        else:
            raise ConditionError("expected .key or [index] after [BODY]", at + i)
    return tuple(steps)


# --- evaluating -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Resolved:
    text: str  # what Gatus compares
    shown: str  # how the value is shown (durations as "48h")
    valid: bool = True


def evaluate(condition: Condition, facts: Facts) -> Outcome:
    left, right = _resolve(condition.left, facts), _resolve(condition.right, facts)
    op = condition.operator
    if op in EQUALITY:
        equal = _equal(condition.left, left, condition.right, right)
        success = equal if op == "==" else not equal
    else:
        a, b = _number(left.text), _number(right.text)
        success = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    shown = f"{_show(condition.left, left)} {op} {_show(condition.right, right)}"
    side, resolved = condition.left, left
    if not _is_value(condition.left) and _is_value(condition.right):
        side, resolved = condition.right, right
    value = None
    if _is_value(side) and resolved.valid:
        value = _short(resolved.shown)
    return Outcome(condition.text, success, value, shown)


def _is_value(side: Operand) -> bool:
    return isinstance(side, Placeholder) or (isinstance(side, Call) and side.argument is not None)


def _show(side: Operand, resolved: _Resolved) -> str:
    if not _is_value(side):
        return side.text
    text = side.text
    return f"{text} ({_short(resolved.shown)})" if resolved.valid else f"{text} {INVALID_SUFFIX}"


def _short(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _resolve(side: Operand, facts: Facts) -> _Resolved:
    if isinstance(side, Constant):
        return _Resolved(side.text, side.text)
    if isinstance(side, Call) and side.argument is None:
        return _Resolved(side.text, side.text)
    if isinstance(side, Call):
        assert side.argument is not None
        return _function(side.function, side.argument, facts)
    return _value(side, facts)


def _value(p: Placeholder, facts: Facts) -> _Resolved:
    invalid = _Resolved(f"{p.text} {INVALID_SUFFIX}", "", valid=False)
    if p.name == "STATUS":
        text = str(facts.status or 0)
    elif p.name == "RESPONSE_TIME":
        text = str(int(facts.response_time_ms or 0))  # whole milliseconds, as Gatus
    elif p.name == "IP":
        text = facts.ip or ""
    elif p.name == "CONNECTED":
        text = "true" if facts.connected else "false"
    elif p.name == "DNS_RCODE":
        text = facts.dns_rcode or ""
    elif p.name == "CERTIFICATE_EXPIRATION":
        ms = facts.certificate_expiration_ms or 0
        return _Resolved(str(ms), format_duration(ms))
    elif p.name == "HEADERS":
        header = facts.headers.get(str(p.path[0]))
        if header is None:
            return invalid
        text = header
    elif not p.path:  # [BODY]
        text = (facts.body or "").strip()
    else:
        found = walk(facts.body, p.path)
        if found is MISSING:
            return invalid
        text = json_text(found)
    return _Resolved(text, text)


def _function(name: Function, p: Placeholder, facts: Facts) -> _Resolved:
    if p.name == "BODY" and p.path:
        found = walk(facts.body, p.path)
        if name == "has":
            return _bool(found is not MISSING)
        if found is MISSING:
            return _Resolved(f"{p.text} {INVALID_SUFFIX}", "", valid=False)
        # Characters, where Go's len() counts UTF-8 bytes: the same for ASCII.
        size = len(found) if isinstance(found, list) else len(json_text(found))
        return _Resolved(str(size), str(size))
    if p.name == "BODY":
        body = (facts.body or "").strip()
        if name == "has":
            return _bool(bool(body))
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            parsed = None
        size = len(parsed) if isinstance(parsed, list) else len(body)
        return _Resolved(str(size), str(size))
    value = _value(p, facts)
    if name == "has":
        return _bool(value.valid and value.text != "")
    size = len(value.text) if value.valid else 0
    return _Resolved(str(size), str(size))


def _bool(value: bool) -> _Resolved:
    text = "true" if value else "false"
    return _Resolved(text, text)


def _equal(left: Operand, a: _Resolved, right: Operand, b: _Resolved) -> bool:
    for fn_side, other in ((left, b), (right, a)):
        if isinstance(fn_side, Call) and fn_side.function == "pat":
            return glob_match(fn_side.values[0], other.text)
        if isinstance(fn_side, Call) and fn_side.function == "any":
            return other.text in fn_side.values
    x, y = go_int(a.text), go_int(b.text)
    if x is not None and y is not None:
        return x == y
    return a.text == b.text


def _number(text: str) -> int:
    """A side of <, <=, >, >=: a duration in ms, an integer, a truncated float, or else 0."""
    duration = parse_duration_ms(text)
    if duration:
        return duration
    integer = go_int(text)
    if integer is not None:
        return integer
    try:
        number = float(text)
    except ValueError:
        return 0
    return int(number) if math.isfinite(number) else 0
