"""Row ids that come in as text (query strings, CSV cells, form fields)."""

from __future__ import annotations

MAX_ID = 2**63 - 1  # the largest bigint: SQLite overflows past it, PostgreSQL refuses it


def parse_id(value: str) -> int | None:
    """A row id written as text, or None when no row can have it: not plain decimal digits
    ("²" passes isdigit() but not int()), zero, or beyond a 64-bit integer."""
    value = value.strip()
    if not value.isdecimal():
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None
