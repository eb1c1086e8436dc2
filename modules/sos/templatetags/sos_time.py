"""Durations as people say them: "in 40 s", "3 min 20 s ago".

Django's timeuntil/timesince count in whole minutes, so a retry due in 40 seconds read
"0 minutes"; the SOS pages refresh every 1.5 s, where seconds matter.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

register = template.Library()

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def humanize_seconds(seconds: float) -> str:
    """Two units at most, and seconds only while they still matter (under ten minutes)."""
    total = max(0, round(seconds))
    if total < MINUTE:
        return f"{total} s"
    if total < 10 * MINUTE:
        minutes, rest = divmod(total, MINUTE)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    if total < HOUR:
        return f"{total // MINUTE} min"
    if total < DAY:
        hours, rest = divmod(total, HOUR)
        minutes = rest // MINUTE
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, rest = divmod(total, DAY)
    hours = rest // HOUR
    return f"{days} d {hours} h" if hours else f"{days} d"


def _seconds_from(value: datetime, now: datetime | None) -> float:
    return (value - (now or timezone.now())).total_seconds()


@register.filter
def until(value: datetime | None, now: datetime | None = None) -> str:
    """The wait until `value`: "in 40 s", or "now" once it is due."""
    if value is None:
        return ""
    seconds = _seconds_from(value, now)
    return f"in {humanize_seconds(seconds)}" if round(seconds) > 0 else "now"


@register.filter
def ago(value: datetime | None, now: datetime | None = None) -> str:
    """The time since `value`: "40 s ago", or "just now"."""
    if value is None:
        return ""
    seconds = -_seconds_from(value, now)
    return f"{humanize_seconds(seconds)} ago" if round(seconds) > 0 else "just now"
