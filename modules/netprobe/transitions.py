"""A monitor's state change, from one location or several: the locked row decides (a Verdict),
a change is a MonitorTransition row written before SOS hears of it, and an SOS failure is
recorded on that row, never lost. Used by monitoring.monitor_record (one location) and
quorum.monitor_record_round (several).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from modules.netprobe import maintenance
from modules.netprobe.models import Monitor, MonitorTransition, ProbeResult
from modules.sos import services as sos  # monitors alert through SOS; the FK ties them anyway

logger = logging.getLogger("modules.netprobe.monitors")

State = Monitor.State


@dataclass(frozen=True)
class Verdict:
    """What a round decided on the locked monitor row, its streaks and last result already set:
    the state it leads to, the result the transition shows, and why."""

    state: str
    result: ProbeResult | None
    reason: str


def monitor_transition(
    *,
    monitor: Monitor,
    now: datetime,
    decide: Callable[[Monitor], Verdict],
    message: Callable[[Monitor, bool], str],
    gone: Callable[[], None] = lambda: None,
) -> MonitorTransition | None:
    """Record a round on the monitor, from one location or several (quorum.py): `decide` updates
    the locked row; a state change is a MonitorTransition row; then SOS hears of it, the alert
    worded by `message(monitor, down)`. Returns the transition, if any.

    When the monitor was deleted meanwhile, `gone()` runs instead, in the transaction."""
    with transaction.atomic():
        current = Monitor.objects.select_for_update().filter(pk=monitor.pk).first()
        if current is None:
            gone()
            return None
        verdict = decide(current)
        change = None
        if verdict.state != current.state:
            change = MonitorTransition.objects.create(
                monitor=current,
                from_state=current.state,
                to_state=verdict.state,
                at=now,
                result=verdict.result,
                reason=verdict.reason[:500],
            )
            current.state = verdict.state
        current.save(
            update_fields=[
                "consecutive_successes",
                "consecutive_failures",
                "last_result",
                "last_run_at",
                "state",
                "updated_at",
            ]
        )
    for name in ("state", "consecutive_successes", "consecutive_failures", "last_result"):
        setattr(monitor, name, getattr(current, name))
    monitor.last_run_at = current.last_run_at
    monitor_alert(
        monitor=current, change=change, now=now, message=lambda down: message(current, down)
    )
    return change


def monitor_alert(
    *,
    monitor: Monitor,
    change: MonitorTransition | None,
    now: datetime,
    message: Callable[[bool], str],
) -> None:
    """Tell SOS Broadcast what a recorded result changed, when a group is set: going down and
    recovering alert (unless maintenance silenced the transition; its reason says so); a monitor
    that went down during maintenance and is still down once it ended gets its alert now, once,
    saying since when. `message(down)` words the alert."""
    if change is not None and (
        change.to_state == State.DOWN
        or (change.from_state == State.DOWN and change.to_state == State.UP)
    ):
        if monitor.sos_group_id is None or maintenance.alert_suppressed(monitor, change):
            return
        _send(monitor, change, message(change.to_state == State.DOWN))
    elif change is None and monitor.state == State.DOWN:
        outage = maintenance.alert_owed(monitor, now)
        if outage is not None:
            since = f"down since {outage.at:%Y-%m-%d %H:%M} UTC, during maintenance"
            _send(monitor, outage, f"{message(True)}; {since}")


def _send(monitor: Monitor, change: MonitorTransition, message: str) -> None:
    """Tell SOS Broadcast about the transition; record what happened on it."""
    alert_id: int | None = None
    error = ""
    key = monitor.dedup_key
    recovery_key = f"{key}-recovered"
    try:
        if change.to_state == State.DOWN:
            _resolve(recovery_key, "The monitor went down again")
            raised = sos.alert_raise(
                message=message,
                severity="critical",
                groups=[monitor.sos_group_id],
                source="netprobe",
                dedup_key=key,
            )
        else:
            _resolve(key, "The monitor recovered")
            # Its own key: an open recovery notice must not swallow the next down alert.
            raised = sos.alert_raise(
                message=message,
                severity="info",
                groups=[monitor.sos_group_id],
                source="netprobe",
                dedup_key=recovery_key,
            )
        alert_id = raised.alert.pk
    except Exception as exc:  # SOS failing must not lose the transition
        logger.warning("NetProbe monitor %s: SOS alert failed: %s", monitor.pk, exc)
        error = f"{type(exc).__name__}: {exc}"
    MonitorTransition.objects.filter(pk=change.pk).update(
        alert_id=alert_id, alert_error=error[:2000]
    )
    change.alert_id, change.alert_error = alert_id, error[:2000]


def _resolve(dedup_key: str, note: str) -> None:
    try:
        sos.alert_resolve(dedup_key=dedup_key, note=note)
    except Exception as exc:  # already closed, or a race with a person closing it
        logger.info("NetProbe: resolving SOS alert %s: %s", dedup_key, exc)
