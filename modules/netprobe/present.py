"""Turning results into what people read: waterfalls, certificate panels, charts (as SVG data).

The templates draw inline SVG from these numbers; SVG presentation attributes (x, width,
points) are not inline styles, so the strict CSP (style-src 'self') holds.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.text import Truncator

from modules.netprobe.maintenance import Span, covers
from modules.netprobe.models import Monitor, ProbeResult
from modules.netprobe.rounds import RoundBeat
from modules.netprobe.selectors import HEARTBEATS, Point
from modules.sos.templatetags.sos_time import humanize_seconds

PHASES = (
    ("dns_ms", "DNS"),
    ("connect_ms", "Connect"),
    ("tls_ms", "TLS"),
    ("ttfb_ms", "Waiting (TTFB)"),
    ("download_ms", "Download"),
)
VIEW_W = 1000  # waterfall bars live in a 0..1000 viewBox stretched to the cell
MIN_SPAN = timedelta(minutes=5)  # a first check seconds ago still gets a readable axis
TICK_STEPS = tuple(
    timedelta(minutes=m) for m in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)
)
MAX_TICKS = 6


def tone(status: str) -> str:
    return {"ok": "ok", "failed": "down", "timeout": "down"}.get(status, "idle")


def waterfall(
    timings: dict[str, Any] | None, failed_phase: str | None = None
) -> dict[str, Any] | None:
    """Rows of (label, ms, x, width, failed): each phase starts where the previous one ended;
    the phase the request failed in ("tls" for a refused certificate) is marked failed."""
    if not timings:
        return None
    total = timings.get("total_ms") or sum(
        v for k, v in timings.items() if k != "total_ms" and isinstance(v, int | float)
    )
    if not total:
        return None
    rows, start = [], 0.0
    for key, label in PHASES:
        value = timings.get(key)
        if value is None:
            continue
        x = VIEW_W * start / total
        width = max(VIEW_W * value / total, 2.0)  # a 0.1 ms phase still shows
        rows.append(
            {
                "key": key.removesuffix("_ms"),
                "label": label,
                "ms": value,
                "x": round(min(x, VIEW_W - width), 2),
                "width": round(width, 2),
                "failed": key == f"{failed_phase}_ms",
            }
        )
        start += value
    return {"rows": rows, "total_ms": total, "view_w": VIEW_W}


def cert_tone(cert: dict[str, Any] | None) -> str:
    if not cert:
        return "idle"
    days = cert.get("days_left")
    if cert.get("expired") or (days is not None and days < 0):
        return "down"
    if days is not None and days < 21:
        return "warn"
    return "ok"


def result_view(row: ProbeResult) -> dict[str, Any]:
    """Template context for one result, by kind."""
    data = row.result or {}
    view: dict[str, Any] = {"tone": tone(row.status), "data": data}
    # A failed lookup has no response to time: its query time (an NXDOMAIN's) is in the panel.
    view["response_ms"] = None if row.kind == "dns" and not row.ok else row.response_ms
    if row.kind == "http":
        view["waterfall"] = waterfall(data.get("timings"), data.get("failed_phase"))
        view["chain"] = data.get("chain") or []
        view["headers"] = sorted((data.get("headers") or {}).items())
    elif row.kind == "tls":
        view["cert"] = data.get("certificate")
        view["cert_tone"] = cert_tone(data.get("certificate"))
        view["chain"] = data.get("chain") or []
        view["days_ago"] = _days_since((data.get("certificate") or {}).get("not_after"))
    elif row.kind in ("tcp", "ping"):
        view["attempts"] = data.get("attempts") or []
        loss = data.get("loss_percent")
        view["loss_tone"] = "ok" if loss == 0 else "down" if loss == 100 else "warn"
    elif row.kind == "traceroute":
        view["hops"] = data.get("hops") or []
    view["offer_tcp"] = row.kind == "ping" and row.error_code == "unsupported"
    return view


def iso_moment(text: Any) -> datetime | None:
    """A stored ISO date (certificate validity) as an aware datetime; None when it is not one."""
    try:
        moment = datetime.fromisoformat(str(text or ""))
    except ValueError:
        return None
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """ "just now" under a minute (Django's timesince says "0 minutes"), else "3 min ago"."""
    if moment is None:
        return ""
    seconds = ((now or timezone.now()) - moment).total_seconds()
    return "just now" if seconds < 60 else f"{_whole_minutes(seconds)} ago"


def _whole_minutes(seconds: float) -> str:
    # Whole minutes: a live page's text then changes once a minute, not at every refresh.
    return humanize_seconds(seconds // 60 * 60) if seconds >= 60 else "less than a minute"


def heartbeat(
    results: Sequence[ProbeResult] | Sequence[RoundBeat],
    size: int = HEARTBEATS,
    *,
    maintenance: Sequence[Span] = (),
) -> dict[str, Any]:
    """The heartbeat bar: one beat per check (or per round, rounds.round_beats), oldest first,
    padded on the left to `size`.

    Each beat carries its status as text (title and label), not only as a colour. A failure
    inside a maintenance occurrence (`maintenance`, merged spans) looks as such: `look`."""
    beats = []
    for r in results[-size:]:
        look = r.status
        if not r.ok and maintenance and covers(list(maintenance), r.started_at):
            look = "maintenance"
        title = _beat_title(r) + (" · during maintenance" if look == "maintenance" else "")
        beats.append(
            {"pk": r.pk, "status": r.status, "look": look, "tone": tone(r.status), "title": title}
        )
    counts = Counter(b["look"] for b in beats)
    words = {
        "ok": "ok",
        "failed": "failed",
        "timeout": "timed out",
        "maintenance": "failed during maintenance",
    }
    summary = ", ".join(f"{counts[s]} {w}" for s, w in words.items() if counts[s])
    return {
        "beats": beats,
        "size": size,
        "padding": range(size - len(beats)),
        "failed": len(beats) - counts["ok"] - counts["maintenance"],
        "summary": summary or "no check yet",
    }


def _beat_title(row: ProbeResult | RoundBeat) -> str:
    when = timezone.localtime(row.started_at).strftime("%Y-%m-%d %H:%M:%S %Z")
    text = f"{when} · {row.status}"
    if row.ok and row.response_ms is not None:
        text += f" · {row.response_ms:.0f} ms"
    if row.error_code:
        text += f" · {row.error_code}: {Truncator(row.error_message).chars(160)}"
    if isinstance(row, RoundBeat):
        text += f" · {row.note}"
    return text


def state_summary(
    monitor: Monitor, since: datetime | None, now: datetime | None = None
) -> dict[str, Any]:
    """What "Up for 3 h 12 min" and "Down since 05:12" are made of (`since` from transitions)."""
    now = now or timezone.now()
    duration = _whole_minutes((now - since).total_seconds()) if since is not None else ""
    return {"state": monitor.state, "since": since, "duration": duration}


def _days_since(moment: str | None) -> int:
    try:
        then = datetime.fromisoformat(moment or "")
    except ValueError:
        return 0
    return max((datetime.now(UTC) - then).days, 0)


def chart(
    points: Sequence[Point],
    since: datetime,
    until: datetime,
    *,
    width: int = 600,
    height: int = 140,
) -> dict[str, Any]:
    """A response-time line (ok checks) and failure ticks, positioned in time.

    The x-axis runs from the first point (or `since`, whichever is later) to `until`: a new
    monitor's few checks fill the chart instead of a sliver at the edge of a 24 h window."""
    start = chart_start(points, since, until)
    span = (until - start).total_seconds() or 1.0
    values = [p.response_ms for p in points if p.response_ms is not None]
    top = _nice_max(max(values)) if values else 1.0
    plot_h = height - 12  # room for the failure ticks under the line

    def x(at: datetime) -> float:
        return round(min(max((at - start).total_seconds() / span, 0.0), 1.0) * width, 2)

    line = []
    for p in points:
        if p.response_ms is not None:
            y = plot_h - (p.response_ms / top) * (plot_h - 4)
            line.append(f"{x(p.at)},{round(y, 2)}")
    fails = [{"x": x(p.at), "count": p.failures} for p in points if p.failures]
    return {
        "width": width,
        "height": height,
        "plot_h": plot_h,
        "points": " ".join(line),
        "dots": [s.split(",") for s in line] if len(line) == 1 else [],
        "failures": fails,
        "top_ms": top,
        "mid_y": plot_h / 2,
        "checks": sum(p.checks for p in points),
        "start": start,
        "end": until,
        "partial": start > since,
        "ticks": [{**t, "x": round(t["pct"] * width / 100, 2)} for t in time_ticks(start, until)],
    }


def chart_start(points: Sequence[Point], since: datetime, until: datetime) -> datetime:
    """The first point, or `since` when that is later; never closer to `until` than MIN_SPAN."""
    if not points:
        return since
    return max(since, min(points[0].at, until - MIN_SPAN))


def time_ticks(start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Labelled ticks at round local times (every 1 min .. 7 d, at most MAX_TICKS of them),
    as a percentage of the range; a tick too near `end` gives way to its "now" label."""
    span = end - start
    if span <= timedelta(0):
        return []
    step = next((s for s in TICK_STEPS if span / s <= MAX_TICKS), TICK_STEPS[-1])
    local = timezone.localtime(start)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    # Wall-clock steps from local midnight: the labels read 06:00, 12:00 even across DST; steps
    # of days start at the first midnight in the range.
    unit = min(step, timedelta(days=1))
    tick = midnight + unit * math.ceil((local - midnight) / unit)
    ticks = []
    while (at := tick.astimezone(UTC)) <= end:
        pct = 100 * (at - start) / span
        if pct <= 88:
            label = _tick_label(tick, step)
            anchor = "start" if pct < 4 else "middle"  # a label at the left edge is not cut
            ticks.append({"at": at, "pct": round(pct, 2), "label": label, "anchor": anchor})
        tick += step
    return ticks


def _tick_label(tick: datetime, step: timedelta) -> str:
    at_midnight = (tick.hour, tick.minute) == (0, 0)
    if step >= timedelta(days=1) or (at_midnight and step >= timedelta(hours=1)):
        return f"{tick:%b} {tick.day}"
    return f"{tick:%H:%M}"


def _nice_max(value: float) -> float:
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 60000):
        if value <= step:
            return float(step)
    return float(value)
