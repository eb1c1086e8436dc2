"""Values in a condition as Gatus (Go) reads them: durations, integers, JSON paths into the
body and pat()'s glob patterns. Django-free."""

from __future__ import annotations

import json
import re

PathStep = str | int


class PatternError(ValueError):
    """A pattern Go's filepath.Match refuses (ErrBadPattern); `position` is its offset."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_MS = {
    "ns": 1e-6,
    "us": 1e-3,
    "µs": 1e-3,
    "μs": 1e-3,
    "ms": 1.0,
    "s": 1e3,
    "m": 6e4,
    "h": 3.6e6,
}
_GO_OCTAL = re.compile(r"[+-]?0[0-7]+")


def go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64): 0x, 0o, 0b and a leading 0 (octal) prefixes."""
    if not text or text != text.strip():
        return None
    try:
        value = int(text, 8) if _GO_OCTAL.fullmatch(text) else int(text, 0)
    except ValueError:
        return None
    return value if -(2**63) <= value < 2**63 else None


def parse_duration_ms(text: str) -> int | None:
    """Go's time.ParseDuration ("48h", "1h30m", "300ms", "-1.5h") in whole milliseconds."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0
    if not body:
        return None
    total, i = 0.0, 0
    while i < len(body):
        part = _DURATION_PART.match(body, i)
        if part is None or part.group(1) in ("", "."):
            return None
        total += float(part.group(1)) * _UNIT_MS[part.group(2)]
        i = part.end()
    ms = int(total)  # Duration.Milliseconds() truncates
    return -ms if text.startswith("-") else ms


def format_duration(ms: int) -> str:
    """Whole seconds as Gatus shows them: 336h, 1h30m, 1h0m15s, 0s."""
    seconds = int(ms / 1000)
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if seconds == 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        text = f"{hours}h{minutes}m{secs}s"
    else:
        text = f"{minutes}m{secs}s" if minutes else f"{secs}s"
    if text.endswith("m0s") or text.endswith("h0s"):
        text = text.removesuffix("0s")
        if hours and minutes == 0:
            text = text.removesuffix("0m")
    return sign + text


# --- [BODY] paths -----------------------------------------------------------------------------

MISSING = object()


def walk(body: str | None, path: tuple[PathStep, ...]) -> object:
    try:
        value: object = json.loads(body or "")
    except (ValueError, RecursionError):  # a server's `[[[[...]]]]` is not a crash of ours
        return MISSING
    for step in path:
        in_list = isinstance(step, int) and isinstance(value, list) and step < len(value)
        in_object = isinstance(step, str) and isinstance(value, dict) and step in value
        if not (in_list or in_object):
            return MISSING
        value = value[step]  # type: ignore[index]
    return MISSING if value is None else value  # null: Gatus cannot walk it either


def json_text(value: object) -> str:
    """A JSON value as Gatus compares it: strings as they are, numbers as Go prints float64,
    objects (and, here, arrays) as minified JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    except RecursionError:
        return "(nested too deep)"


# --- pat(): Go's filepath.Match, after Gatus drops every "/" ---------------------------------


def glob_tokens(pattern: str, at: int = 0) -> list[str | None]:
    """The pattern as regex pieces matching one character each; None stands for "*".
    Raises PatternError where filepath.Match would answer ErrBadPattern."""
    pattern = pattern.replace("/", "")
    tokens: list[str | None] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            tokens.append(None)
            i += 1
        elif c == "?":
            tokens.append(".")
            i += 1
        elif c == "\\":
            if i + 1 >= len(pattern):
                raise PatternError("pat(): a pattern cannot end with \\", at + i)
            tokens.append(re.escape(pattern[i + 1]))
            i += 2
        elif c == "[":
            token, i = _glob_class(pattern, i, at)
            tokens.append(token)
        else:
            tokens.append(re.escape(c))
            i += 1
    return tokens


def _glob_class(pattern: str, i: int, at: int) -> tuple[str, int]:
    start, i = i, i + 1
    negate = pattern[i : i + 1] == "^"
    i += negate
    ranges: list[str] = []
    while True:
        if i >= len(pattern):
            raise PatternError("pat(): [ is not closed by ]", at + start)
        if pattern[i] == "]" and ranges:
            return f"[{'^' if negate else ''}{''.join(ranges)}]", i + 1
        lo, i = _glob_char(pattern, i, at)
        if pattern[i : i + 1] == "-":
            hi, i = _glob_char(pattern, i + 1, at)
            if hi < lo:
                raise PatternError("pat(): a range runs backwards", at + i - 1)
            ranges.append(f"{re.escape(lo)}-{re.escape(hi)}")
        else:
            ranges.append(re.escape(lo))


def _glob_char(pattern: str, i: int, at: int) -> tuple[str, int]:
    c = pattern[i : i + 1]
    if c in ("", "-", "]"):
        raise PatternError("pat(): a character class is malformed", at + i)
    if c == "\\":
        if i + 1 >= len(pattern):
            raise PatternError("pat(): a pattern cannot end with \\", at + i)
        return pattern[i + 1], i + 2
    return c, i + 1


def glob_match(pattern: str, text: str) -> bool:
    """Gatus's pat(): "*" is any run of characters, "?" one, [a-z] and [^a-z] classes.

    Matched star-free piece by piece (leftmost), each piece a fixed-width regex: linear in the
    text, where one regex with many ".*" could backtrack for as long as a hostile body makes it."""
    if pattern == "*":
        return True
    text = text.replace("/", "")
    try:
        tokens = glob_tokens(pattern)
    except PatternError:
        return False
    pieces: list[list[str]] = [[]]
    for token in tokens:
        if token is None:
            pieces.append([])
        else:
            pieces[-1].append(token)
    compiled = [re.compile("".join(p), re.DOTALL) for p in pieces]
    if len(pieces) == 1:
        return compiled[0].fullmatch(text) is not None
    first = compiled[0].match(text)
    if first is None:
        return False
    pos = first.end()
    for piece, regex in zip(pieces[1:-1], compiled[1:-1], strict=True):
        if not piece:
            continue
        found = regex.search(text, pos)
        if found is None:
            return False
        pos = found.end()
    tail = len(text) - len(pieces[-1])
    return tail >= pos and compiled[-1].fullmatch(text, tail) is not None
