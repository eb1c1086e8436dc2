"""Where a monitor runs: its locations, checked when it is saved and resolved at each round, and
the quorum they are counted against (the rounds themselves: quorum.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils import timezone

from modules.netprobe.models import LOCAL, Monitor, MonitorLocation
from modules.netprobe.vantages import locations as names_
from modules.netprobe.vantages.locations import ALL, LocationsInvalid, enabled_vantages, is_multi

__all__ = [
    "ALL",
    "enabled_vantages",
    "is_multi",
    "locations_check",
    "locations_reset",
    "monitor_locations",
    "quorum_of",
]

State = Monitor.State


def monitor_locations(monitor: Monitor, *, enabled: Sequence[str] | None = None) -> list[str]:
    """Where a round runs: [] is ["local"]; ["all"] is local and every enabled vantage (read
    now, so a vantage added later joins); names are kept as given (a vantage deleted since is
    asked anyway and answers unavailable: unknown rather than down)."""
    try:
        return names_.resolve(monitor.locations, enabled=enabled, check=False)
    except LocationsInvalid:  # saved before "all" next to other names was refused
        return names_.resolve([ALL], enabled=enabled, check=False)


def quorum_of(quorum: int | None, count: int) -> int:
    """The failing locations that take the monitor down: `quorum` (at most `count`), else a
    majority."""
    if count <= 0:
        return 1
    return min(quorum, count) if quorum else count // 2 + 1


def locations_check(fields: dict[str, Any]) -> dict[str, str]:
    """Field errors of `locations` and `quorum`; `locations` is replaced by its clean list.

    A disabled vantage stays acceptable on a monitor (unknown at each round until it is enabled
    again): disabling one must not make every monitor naming it uneditable."""
    errors: dict[str, str] = {}
    try:
        fields["locations"] = names_.normalize(fields.get("locations") or [])
        resolved = names_.resolve(fields["locations"], allow_disabled=True)
    except LocationsInvalid as exc:
        errors["locations"] = exc.message
        resolved = [LOCAL]
    quorum = fields.get("quorum")
    if quorum not in (None, "") and "locations" not in errors:
        try:
            value = int(quorum)
        except (TypeError, ValueError):
            value = 0
        if not 1 <= value <= len(resolved):
            where = f"{len(resolved)} location{'s' * (len(resolved) != 1)}"
            errors["quorum"] = (
                f"must be between 1 and {len(resolved)} (the monitor runs at {where})"
            )
    return errors


def locations_reset(monitor: Monitor, *, forget: bool = False) -> None:
    """Every location starts afresh (paused, resumed, a new probe); `forget`: a new set of
    locations, whose rows start from nothing."""
    if forget:
        MonitorLocation.objects.filter(monitor=monitor).delete()
        return
    MonitorLocation.objects.filter(monitor=monitor).update(
        state=State.UNKNOWN,
        consecutive_failures=0,
        consecutive_successes=0,
        updated_at=timezone.now(),
    )
