"""Expectations for the http kind: accepted status codes, a keyword or a regex in the body."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Any

_RANGE = re.compile(r"^(\d{3})(?:-(\d{3}))?$|^([1-5])xx$", re.IGNORECASE)
DEFAULT_ACCEPTED = ("200-399",)
# The keyword and the regex are looked for in this much of the body (its start): the rest of
# what a server sends, up to the read cap, is counted but not searched.
MATCH_BYTES = 65_536


@dataclass(frozen=True)
class StatusRange:
    low: int
    high: int

    def __contains__(self, status: object) -> bool:
        return isinstance(status, int) and self.low <= status <= self.high

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


def parse_status_ranges(items: tuple[str, ...]) -> list[StatusRange] | None:
    """ "200", "200-299" or "2xx" items; None when one of them is malformed."""
    ranges = []
    for item in items:
        match = _RANGE.match(item.strip())
        if not match:
            return None
        if match.group(3):
            low = int(match.group(3)) * 100
            ranges.append(StatusRange(low, low + 99))
            continue
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if not 100 <= low <= high <= 599:
            return None
        ranges.append(StatusRange(low, high))
    return ranges


def decode_body(data: bytes, content_type: str | None) -> str:
    charset = "utf-8"
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip("\"' ")
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"
    return data.decode(charset, "replace")


def evaluate(
    status: int,
    text: str,
    accepted: list[StatusRange],
    keyword: str | None,
    regex: re.Pattern[str] | None,
    *,
    checked_bytes: int | None = None,
    partial: bool = False,
) -> tuple[dict[str, Any], str | None]:
    """Returns the expectation report and the first failure message (None when all pass).

    `text` is the part of the body searched: `checked_bytes` long, `partial` when the body
    is longer."""
    report: dict[str, Any] = {}
    where = f"the first {checked_bytes} bytes of the body" if partial else "the body"
    failures: list[str] = []
    if accepted:  # none: conditions on [STATUS] decide
        status_ok = any(status in r for r in accepted)
        report["status"] = "pass" if status_ok else "fail"
        report["accepted_status"] = [str(r) for r in accepted]
        if not status_ok:
            failures.append(f"status {status} is not in {', '.join(map(str, accepted))}")
    if keyword is not None:
        found = keyword in text
        report["keyword"] = "pass" if found else "fail"
        if not found:
            failures.append(f"keyword {keyword!r} not found in {where}")
    if regex is not None:
        matched = regex.search(text) is not None
        report["regex"] = "pass" if matched else "fail"
        if not matched:
            failures.append(f"regex {regex.pattern!r} does not match {where}")
    if (keyword is not None or regex is not None) and checked_bytes is not None:
        report["checked_bytes"] = checked_bytes
    return report, failures[0] if failures else None
