"""Monitors: a probe spec run on an interval, a state machine, SOS alerts, uptime and series.

State machine: `failure_threshold` consecutive failures -> down, `recovery_threshold`
consecutive successes -> up; a disabled monitor is paused. Going down (from up or unknown) raises
a critical SOS alert to the monitor's group, recovering (down -> up) resolves it and sends an
info alert. Every transition is a row, written before the alert is attempted; an SOS failure is
recorded on it, never lost.

Running the due monitors (claims, one pool for every call): monitor_runs.py; a monitor run from
several locations records its rounds by quorum: quorum.py; the transition row and its alert,
for both: transitions.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from modules.netprobe import monitor_locations
from modules.netprobe.models import Monitor, MonitorTransition, ProbeResult
from modules.netprobe.probes import ProbeOptionsError
from modules.netprobe.runner import (
    probe_validate,
    target_precheck,
)
from modules.netprobe.transitions import Verdict, monitor_transition

SPEC_FIELDS = ("kind", "target", "options")
EDITABLE = (
    "name",
    *SPEC_FIELDS,
    "interval_s",
    "failure_threshold",
    "recovery_threshold",
    "sos_group",
    "enabled",
    "cert_expiry_days",
    "locations",
    "quorum",
)
# Errors on these are the monitor's own; any other name is one of its probe options.
MONITOR_FIELDS = (
    "name",
    "kind",
    "target",
    "interval_s",
    "failure_threshold",
    "recovery_threshold",
    "cert_expiry_days",
    "locations",
    "quorum",
)
MAX_CERT_EXPIRY_DAYS = 3650
State = Monitor.State


# --- create / update ----------------------------------------------------------------------------


class MonitorInvalid(ProbeOptionsError):
    """Invalid monitor fields; `errors` is flat, the API's details.fields nest the options."""

    code = "validation_error"

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        fields: dict[str, Any] = {}
        for name, text in self.errors.items():
            if name in MONITOR_FIELDS:
                fields[name] = [text]
            else:
                fields.setdefault("options", {})[name] = [text]
        # As the API words its own validation errors: clients see one shape.
        self.message = "The request has invalid fields."
        self.details = {"fields": fields}


def monitor_check(fields: dict[str, Any]) -> None:
    """Validate a monitor's fields; its options are replaced by their typed form.

    Raises MonitorInvalid, or EgressForbidden for a numeric target the policy refuses."""
    errors: dict[str, str] = {}
    minimum = settings.NETPROBE_MONITOR_MIN_INTERVAL_S
    if int(fields.get("interval_s") or 0) < minimum:
        errors["interval_s"] = f"must be at least {minimum} seconds"
    for name in ("failure_threshold", "recovery_threshold"):
        if not 1 <= int(fields.get(name) or 0) <= 100:
            errors[name] = "must be between 1 and 100"
    days = fields.get("cert_expiry_days")
    if not 0 <= int(14 if days is None else days) <= MAX_CERT_EXPIRY_DAYS:
        errors["cert_expiry_days"] = f"must be between 0 and {MAX_CERT_EXPIRY_DAYS}"
    if not str(fields.get("name") or "").strip():
        errors["name"] = "is required"
    errors.update(monitor_locations.locations_check(fields))
    try:
        spec = probe_validate(
            kind=fields.get("kind") or "",
            target=fields.get("target") or "",
            options=fields.get("options"),
        )
    except ProbeOptionsError as exc:
        errors.update(exc.errors)
    else:
        fields["options"] = spec.options
        if not errors:
            target_precheck(spec)  # EgressForbidden: a numeric target the policy refuses
    if errors:
        raise MonitorInvalid(errors)


def monitor_create(*, user: Any = None, now: datetime | None = None, **fields: Any) -> Monitor:
    """Create a monitor from EDITABLE fields; raises MonitorInvalid / EgressForbidden."""
    values = {f.name: f.get_default() for f in Monitor._meta.concrete_fields if f.name in EDITABLE}
    values.update({k: v for k, v in fields.items() if k in EDITABLE})
    if values["cert_expiry_days"] is None:  # a form left empty: the default
        values["cert_expiry_days"] = Monitor._meta.get_field("cert_expiry_days").get_default()
    values["options"] = dict(values.get("options") or {})
    monitor_check(values)
    enabled = bool(values.get("enabled", True))
    return Monitor.objects.create(
        **values,
        state=State.UNKNOWN if enabled else State.PAUSED,
        next_run_at=(now or timezone.now()) if enabled else None,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )


def monitor_update(*, monitor: Monitor, now: datetime | None = None, **changes: Any) -> Monitor:
    """Change a monitor. A new probe spec starts its state afresh; switching `enabled` pauses or
    resumes it exactly as monitor_pause / monitor_resume do, with the same transitions."""
    now = now or timezone.now()
    values = {name: getattr(monitor, name) for name in EDITABLE}
    values.update({k: v for k, v in changes.items() if k in EDITABLE})
    if values["cert_expiry_days"] is None:  # a form left empty: unchanged
        values["cert_expiry_days"] = monitor.cert_expiry_days
    values["options"] = dict(values.get("options") or {})
    monitor_check(values)
    enabled = bool(values.pop("enabled"))
    with transaction.atomic():
        current = Monitor.objects.select_for_update().get(pk=monitor.pk)
        spec_changed = any(values[f] != getattr(current, f) for f in SPEC_FIELDS)
        moved = values["locations"] != (current.locations or [])
        spec_changed |= moved
        for name, value in values.items():
            setattr(monitor, name, value)
        # Only what an edit changes: a run recording its result meanwhile keeps its counters.
        fields = [*values, "updated_at"]
        if spec_changed:
            monitor.consecutive_failures = monitor.consecutive_successes = 0
            fields += ["consecutive_failures", "consecutive_successes"]
            monitor_locations.locations_reset(current, forget=moved)
            if current.enabled and enabled:  # else pausing or resuming below says it all
                if current.state != State.UNKNOWN:
                    MonitorTransition.objects.create(
                        monitor=current,
                        from_state=current.state,
                        to_state=State.UNKNOWN,
                        at=now,
                        reason="probe changed",
                    )
                monitor.state, monitor.next_run_at = State.UNKNOWN, now
                fields += ["state", "next_run_at"]
        monitor.save(update_fields=fields)
        if enabled != current.enabled:
            _set_enabled(monitor, enabled, now, reason="resumed" if enabled else "paused")
    return monitor


def monitor_pause(*, monitor: Monitor, now: datetime | None = None) -> Monitor:
    """Stop running a monitor (enabled off, state paused); pausing a paused one changes nothing.

    Unlike an edit it validates nothing: a monitor whose options the limits no longer allow
    can still be paused."""
    return _set_enabled(monitor, False, now or timezone.now(), reason="paused")


def monitor_resume(*, monitor: Monitor, now: datetime | None = None) -> Monitor:
    """Run a paused monitor again, from now, with its state started afresh (unknown)."""
    return _set_enabled(monitor, True, now or timezone.now(), reason="resumed")


def _set_enabled(monitor: Monitor, enabled: bool, now: datetime, *, reason: str) -> Monitor:
    with transaction.atomic():
        current = Monitor.objects.select_for_update().get(pk=monitor.pk)
        if current.enabled != enabled:
            new_state = State.UNKNOWN if enabled else State.PAUSED
            MonitorTransition.objects.create(
                monitor=current, from_state=current.state, to_state=new_state, at=now, reason=reason
            )
            current.enabled = enabled
            current.state = new_state
            current.next_run_at = now if enabled else None
            current.consecutive_failures = current.consecutive_successes = 0
            monitor_locations.locations_reset(current)
            current.save(
                update_fields=[
                    "enabled",
                    "state",
                    "next_run_at",
                    "consecutive_failures",
                    "consecutive_successes",
                    "updated_at",
                ]
            )
    for name in (
        "enabled",
        "state",
        "next_run_at",
        "consecutive_failures",
        "consecutive_successes",
    ):
        setattr(monitor, name, getattr(current, name))
    monitor.updated_at = current.updated_at
    return monitor


# --- recording (the runs themselves: monitor_runs.py) ----------------------------------------


def monitor_record(
    *, monitor: Monitor, result: ProbeResult, now: datetime | None = None
) -> MonitorTransition | None:
    """Apply one result to the state machine; returns the transition it caused, if any
    (None too when the monitor has been deleted meanwhile)."""

    def decide(current: Monitor) -> Verdict:
        if result.ok:
            current.consecutive_successes += 1
            current.consecutive_failures = 0
        else:
            current.consecutive_failures += 1
            current.consecutive_successes = 0
        current.last_result = result
        current.last_run_at = result.started_at
        return Verdict(_next_state(current, result.ok), result, _reason(current, result))

    return monitor_transition(
        monitor=monitor,
        now=now or timezone.now(),
        decide=decide,
        message=lambda current, down: _message(current, result, down=down),
    )


def _next_state(monitor: Monitor, ok: bool) -> str:
    if monitor.state == State.PAUSED or not monitor.enabled:
        return monitor.state
    return next_state(
        monitor.state,
        ok=ok,
        successes=monitor.consecutive_successes,
        failures=monitor.consecutive_failures,
        failure_threshold=monitor.failure_threshold,
        recovery_threshold=monitor.recovery_threshold,
    )


def next_state(
    state: str,
    *,
    ok: bool,
    successes: int,
    failures: int,
    failure_threshold: int,
    recovery_threshold: int,
) -> str:
    """The state after one result, the streaks already counted (a monitor, or one location)."""
    if ok and state != State.UP:
        return State.UP if successes >= recovery_threshold else state
    if not ok and state != State.DOWN:
        return State.DOWN if failures >= failure_threshold else state
    return state


def _reason(monitor: Monitor, result: ProbeResult) -> str:
    if result.ok:
        return f"{monitor.consecutive_successes} consecutive success(es)"
    error = f"{result.error_code}: {result.error_message}" if result.error_code else result.status
    return f"{monitor.consecutive_failures} consecutive failure(s); last: {error}"


def _message(monitor: Monitor, result: ProbeResult, *, down: bool) -> str:
    what = f"{monitor.get_kind_display()} {monitor.target}"
    if down:
        code = result.error_code or result.status
        return (
            f"NetProbe monitor {monitor.name!r} is DOWN: {what} failed "
            f"{monitor.consecutive_failures} time(s) in a row ({code}: {result.error_message})"
        )
    speed = f" in {result.response_ms:.0f} ms" if result.response_ms is not None else ""
    return f"NetProbe monitor {monitor.name!r} recovered: {what} answers again{speed}"
