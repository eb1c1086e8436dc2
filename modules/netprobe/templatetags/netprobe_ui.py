"""NetProbe's template filters: relative times and certificate dates as people read them."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from modules.netprobe import present

register = template.Library()

# After these a target or an address may wrap: between the parts of a name or a number.
BREAK_AFTER = re.compile(r"(?<=[./:?&=_-])")


@register.filter
def ago(value: datetime | None) -> str:
    """ "just now" for the last minute (Django's timesince says "0 minutes"), else "3 min ago"."""
    return present.ago(value)


@register.filter
def moment(value: Any) -> datetime | None:
    """An ISO date string (as certificates are stored) as a datetime for the `date` filter."""
    return present.iso_moment(value)


@register.filter
def breakable(value: Any) -> SafeString:
    """`value` escaped, with a line-break opportunity (<wbr>) after each dot, colon, slash,
    dash and query separator: "93.184.216.34" wraps between its numbers, never inside one."""
    parts = BREAK_AFTER.split(str(value or ""))
    return mark_safe("<wbr>".join(escape(part) for part in parts))  # noqa: S308 - parts escaped
