"""Delivery priority, the order in which due deliveries are claimed (lowest first).

The life-safety lane: a critical alert's first send goes before everything; within a severity,
first sends go before reminders and escalation sends. priority = 2 * severity rank + resend, so
critical first 0, critical resend 1, warning first 2, warning resend 3, info 4 and 5.
"""

from __future__ import annotations

from modules.sos.models import PRIORITY

LIFE_SAFETY = 0


def delivery_priority(severity: str, *, resend: bool) -> int:
    # An unknown severity (a typo, a value from an older release) goes last, never in the
    # life-safety lane ahead of real criticals.
    rank = PRIORITY.get(severity, max(PRIORITY.values(), default=0))
    return 2 * rank + int(resend)
