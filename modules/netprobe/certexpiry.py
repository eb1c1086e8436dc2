"""Certificate expiry warnings: a TLS or HTTPS monitor warns N days before any certificate it is
shown (the leaf or any chain certificate) expires.

One SOS warning per crossing, not one per round: the earliest expiry already warned about is
stored on the monitor and claimed with a conditional UPDATE, so overlapping runners warn once.
A renewed certificate back outside the window re-arms the warning and resolves the open one,
but only after REARM_ROUNDS rounds in a row showed no certificate inside the window: behind a
load balancer with an old and a renewed certificate, alternating rounds would otherwise resolve
and raise the warning every other round. An earlier expiry than the one warned about warns again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q

from modules.netprobe.models import Kind, Monitor, ProbeResult
from modules.sos import services as sos

logger = logging.getLogger("modules.netprobe.monitors")

REARM_ROUNDS = 3


@dataclass(frozen=True)
class Expiry:
    at: datetime
    subject: str
    position: int  # 0 is the leaf

    @property
    def what(self) -> str:
        return "certificate" if self.position == 0 else f"chain certificate #{self.position + 1}"


def chain_of(kind: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The certificates a result shows, leaf first (tls: `chain`; https: `tls.chain`)."""
    if kind == Kind.TLS:
        return list(result.get("chain") or [])
    if kind == Kind.HTTP:
        return list((result.get("tls") or {}).get("chain") or [])
    return []


def earliest_expiry(kind: str, result: dict[str, Any]) -> Expiry | None:
    found = [
        Expiry(datetime.fromisoformat(cert["not_after"]), _name(cert), position)
        for position, cert in enumerate(chain_of(kind, result))
        if cert.get("not_after")
    ]
    return min(found, key=lambda e: (e.at, e.position)) if found else None


def cert_expiry_check(*, monitor: Monitor, result: ProbeResult, now: datetime) -> bool:
    """Warn through SOS if a certificate in `result` expires within the monitor's window and
    that expiry was not warned about yet; returns whether this call warned."""
    expiry = earliest_expiry(monitor.kind, result.result or {})
    if expiry is None:  # nothing presented (the connection failed): no news about certificates
        return False
    rows = Monitor.objects.filter(pk=monitor.pk)
    current = rows.values("enabled", "cert_warned_expiry").first()
    if current is None or not current["enabled"]:  # deleted or paused while its probe ran
        return False
    previous = current["cert_warned_expiry"]
    window = timedelta(days=monitor.cert_expiry_days)
    if not monitor.cert_expiry_days or expiry.at - now > window:
        if previous is not None and (
            not monitor.cert_expiry_days or _outside_for_rounds(monitor, window, now)
        ):
            if rows.exclude(cert_warned_expiry=None).update(cert_warned_expiry=None):
                _resolve(monitor, "The certificate was renewed")
            monitor.cert_warned_expiry = None
        return False
    if _in_maintenance(monitor, now):  # silenced, not lost: it warns once the window ends
        return False
    # The claim: of overlapping runners, only the one that moves the stored expiry warns, and
    # only to an earlier expiry (or after the one warned about has passed).
    news = Q(cert_warned_expiry=None) | Q(cert_warned_expiry__gt=expiry.at)
    news |= Q(cert_warned_expiry__lte=now) & ~Q(cert_warned_expiry=expiry.at)
    if not rows.filter(news).update(cert_warned_expiry=expiry.at):
        return False
    monitor.cert_warned_expiry = expiry.at
    if monitor.sos_group_id is None:
        return True
    _resolve(monitor, "Another certificate is about to expire")  # else dedup would swallow it
    try:
        sos.alert_raise(
            message=_message(monitor, expiry, now),
            severity="warning",
            groups=[monitor.sos_group_id],
            source="netprobe",
            dedup_key=_key(monitor),
        )
    except Exception as exc:  # SOS failing: give the claim back, the next round tries again
        logger.warning("NetProbe monitor %s: certificate expiry alert failed: %s", monitor.pk, exc)
        rows.filter(cert_warned_expiry=expiry.at).update(cert_warned_expiry=previous)
        monitor.cert_warned_expiry = previous
        return False
    return True


def _outside_for_rounds(monitor: Monitor, window: timedelta, now: datetime) -> bool:
    """Whether the last REARM_ROUNDS results that showed certificates all had every
    certificate outside the window (the current result is already stored)."""
    recent = ProbeResult.objects.filter(monitor=monitor).values_list("result", flat=True)
    seen = 0
    for result in recent[: REARM_ROUNDS * 3]:  # failed connections show no certificate
        expiry = earliest_expiry(monitor.kind, result or {})
        if expiry is None:
            continue
        if expiry.at - now <= window:
            return False
        seen += 1
        if seen == REARM_ROUNDS:
            return True
    return False


def _in_maintenance(monitor: Monitor, now: datetime) -> bool:
    from modules.netprobe.maintenance import active_window

    return active_window(monitor, now) is not None


def _key(monitor: Monitor) -> str:
    return f"{monitor.dedup_key}-certificate"


def _resolve(monitor: Monitor, note: str) -> None:
    try:
        sos.alert_resolve(dedup_key=_key(monitor), note=note)
    except Exception as exc:  # already closed, or a person closing it at the same time
        logger.info("NetProbe: resolving the certificate alert of %s: %s", monitor.pk, exc)


def _name(cert: dict[str, Any]) -> str:
    return str(cert.get("subject_cn") or cert.get("subject") or "?")


def _message(monitor: Monitor, expiry: Expiry, now: datetime) -> str:
    when = expiry.at.strftime("%Y-%m-%d %H:%M UTC")
    days = (expiry.at - now).total_seconds() / 86400
    if days < 0:
        return (
            f"NetProbe monitor {monitor.name!r}: the {expiry.what} {expiry.subject!r} of "
            f"{monitor.target} expired on {when}"
        )
    left = f"{int(days)} day(s) left" if days >= 1 else "less than a day left"
    return (
        f"NetProbe monitor {monitor.name!r}: the {expiry.what} {expiry.subject!r} of "
        f"{monitor.target} expires on {when} ({left}; warning {monitor.cert_expiry_days} days "
        "ahead)"
    )
