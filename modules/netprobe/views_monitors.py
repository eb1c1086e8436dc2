"""The monitor pages: the list and one monitor, each with a live part polled every few seconds.
Their heartbeat bars show a monitor run from several locations round by round (rounds.py), as
its uptime counts, and a hub-only one check by check.

Fixed query counts: the list costs the same queries however many monitors there are.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django_htmx.http import HttpResponseClientRefresh

from modules.netprobe import maintenance, services
from modules.netprobe.certexpiry import earliest_expiry
from modules.netprobe.location_pages import location_activity, monitor_location_rows
from modules.netprobe.models import Monitor, ProbeResult
from modules.netprobe.present import chart, heartbeat, state_summary
from modules.netprobe.rounds import RoundBeat, monitors_round_beats, round_beats, round_plans
from modules.netprobe.selectors import (
    HEARTBEATS,
    LIST_DEFER,
    WINDOWS,
    live_version,
    monitor_activity,
    monitor_heartbeats,
    monitor_state_since,
    monitors_activity,
    monitors_heartbeats,
    monitors_series,
    monitors_uptime,
    with_latest_transition,
)
from modules.netprobe.views_live import live, live_part, live_response
from portal.roles import viewer_required

LIVE_REFRESH_S = 5  # monitor pages ask for their live part this often
LIST_BEATS = 20  # the heartbeat bar of each monitor in the list


def _maintenance_since(
    beats: Iterable[list[ProbeResult] | list[RoundBeat]], since: datetime
) -> datetime:
    """Far enough back for the uptime window and every beat shown."""
    return min([since, *(checks[0].started_at for checks in beats if checks)])


def _scheduler_on() -> bool:
    return getattr(settings, "NETPROBE_SCHEDULER", "thread") == "thread"


def _monitors_context() -> dict[str, Any]:
    """Every monitor's row in a fixed number of queries, however many monitors there are."""
    now = timezone.now()
    since = now - WINDOWS["24h"]
    monitors = list(with_latest_transition(Monitor.objects.select_related("last_result")))
    ids = [m.pk for m in monitors]
    # As on a monitor's page: a monitor run from several locations shows one beat per round.
    plans = round_plans(monitors)
    need = {pk: q for pk, (q, _) in plans.items()}
    beats: dict[int, list[ProbeResult] | list[RoundBeat]] = {
        **monitors_heartbeats([pk for pk in ids if pk not in plans], LIST_BEATS),
        **monitors_round_beats(plans, LIST_BEATS),
    }
    spans = maintenance.coverage_of(ids, _maintenance_since(beats.values(), since), now)
    uptimes = monitors_uptime(ids, "24h", now=now, maintenance=spans, quorums=need)
    series = monitors_series(ids, "24h", now=now, max_points=96, quorums=need)
    rows = [
        {
            "m": m,
            "uptime": uptimes[m.pk],
            "chart": chart(series[m.pk], since, now, width=240, height=40),
            "state": state_summary(m, monitor_state_since(m), now),
            "heartbeat": heartbeat(beats[m.pk], LIST_BEATS, maintenance=spans.get(m.pk, ())),
        }
        for m in monitors
    ]
    return {"rows": rows}


@viewer_required
def monitors(request: HttpRequest) -> HttpResponse:
    version = live_version(monitors_activity())
    context = {
        "live": live_part(request, "netprobe/_monitors_live.html", _monitors_context(), version),
        "refresh_s": LIVE_REFRESH_S,
        "scheduler_on": _scheduler_on(),
    }
    return render(request, "netprobe/monitors.html", context)


@live
def monitors_live(request: HttpRequest) -> HttpResponse:
    version = live_version(monitors_activity())
    return live_response(request, "netprobe/_monitors_live.html", version, _monitors_context)


def _monitor_context(monitor: Monitor, window: str) -> dict[str, Any]:
    now = timezone.now()
    points = services.monitor_series(monitor, window, now=now)
    # A monitor run from several locations shows one beat per round, judged as its uptime is;
    # the rows per location below keep each location's own checks.
    plan = round_plans([monitor]).get(monitor.pk)
    if plan is None:
        beats: list[ProbeResult] | list[RoundBeat] = monitor_heartbeats(monitor)
    else:
        beats = round_beats(monitor.pk, plan[0], HEARTBEATS, count=plan[1])
    since = _maintenance_since([beats], now - max(WINDOWS.values()))
    spans = maintenance.coverage_of([monitor.pk], since, now).get(monitor.pk, [])
    return {
        "m": monitor,
        "window": window,
        "windows": list(WINDOWS),
        "state": state_summary(monitor, monitor_state_since(monitor), now),
        "heartbeat": heartbeat(beats, maintenance=spans),
        "by_round": plan is not None,
        "locations": monitor_location_rows(monitor, spans=spans),
        "uptimes": [
            services.monitor_uptime(monitor, w, now=now, maintenance=spans) for w in WINDOWS
        ],
        "chart": chart(points, now - WINDOWS[window], now),
        "transitions": monitor.transitions.select_related("result")[:50],
        "results": monitor.results.select_related("monitor").defer(*LIST_DEFER)[:20],
        "scheduler_on": _scheduler_on(),
        "cert": _next_cert_expiry(monitor, now),
    }


def _next_cert_expiry(monitor: Monitor, now: datetime) -> dict[str, Any] | None:
    """The first certificate of the last check's chain to expire, and in how many days."""
    result = monitor.last_result.result if monitor.last_result else None
    expiry = earliest_expiry(monitor.kind, result or {})
    if expiry is None:
        return None
    days = (expiry.at - now).total_seconds() / 86400
    return {
        "at": expiry.at,
        "what": expiry.what,
        "subject": expiry.subject,
        "days": int(days),
        "expired": days <= 0,
    }


def _window(request: HttpRequest) -> str:
    window = request.GET.get("window", "24h")
    return window if window in WINDOWS else "24h"


@viewer_required
def monitor_detail(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_or_404(Monitor.objects.select_related("last_result", "sos_group"), pk=pk)
    window = _window(request)
    # The version before the content: a check landing in between is drawn at the next poll.
    version = live_version(monitor_activity(monitor), window, location_activity(monitor))
    context = _monitor_context(monitor, window)
    context["live"] = live_part(request, "netprobe/_monitor_live.html", context, version)
    context["refresh_s"] = LIVE_REFRESH_S
    return render(request, "netprobe/monitor.html", context)


@live
def monitor_live(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = Monitor.objects.select_related("last_result", "sos_group").filter(pk=pk).first()
    if monitor is None:  # deleted meanwhile: the reloaded page says so
        return HttpResponseClientRefresh()
    window = _window(request)
    version = live_version(monitor_activity(monitor), window, location_activity(monitor))
    return live_response(
        request,
        "netprobe/_monitor_live.html",
        version,
        lambda: _monitor_context(monitor, window),
    )
