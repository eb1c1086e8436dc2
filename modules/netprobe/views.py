"""Operator UI: run probes, read results, browse history, manage monitors; the dashboard card.

Viewers see everything; the forms are shown to operators only, and the POST views refuse others
with 403. Views are thin: they call the same services as the API and the CLI.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from modules.netprobe import maintenance, services
from modules.netprobe.certexpiry import earliest_expiry
from modules.netprobe.forms import (
    MonitorForm,
    fieldsets,
    monitor_prefill,
    option_errors,
    options_from_post,
)
from modules.netprobe.location_pages import (
    location_activity,
    measurement_redirect,
    measurement_view,
    monitor_location_rows,
)
from modules.netprobe.models import Kind, Monitor, ProbeResult, Status
from modules.netprobe.present import chart, heartbeat, result_view, state_summary, tone
from modules.netprobe.probes import ProbeOptionsError
from modules.netprobe.probes.catalog import TARGETS
from modules.netprobe.rounds import quorums, round_counts
from modules.netprobe.selectors import (
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
from modules.netprobe.serializers import ProbeResultSerializer
from modules.netprobe.vantages.fanout import LocationsInvalid, is_local_only
from portal.egress import EgressForbidden
from portal.roles import operator_required, viewer_required

HISTORY_PAGE = 50
LIVE_REFRESH_S = 5  # monitor pages ask for their live part this often
LIST_BEATS = 20  # the heartbeat bar of each monitor in the list
LIST_DEFER = ("result", "options", "resolved")  # the JSON bodies: not needed in tables


def card_context(request: HttpRequest) -> dict[str, Any]:
    day_ago = timezone.now() - timedelta(hours=24)
    # A monitor run from several locations counts its rounds: one location failing under the
    # quorum is not a failed probe (rounds.py).
    need = quorums(Monitor.objects.only("locations", "quorum"))
    probes = (
        ProbeResult.objects.filter(started_at__gte=day_ago)
        .exclude(monitor_id__in=list(need))
        .aggregate(total=Count("pk"), failed=Count("pk", filter=~Q(status=Status.OK)))
    )
    for found in round_counts(need, day_ago).values():
        probes["total"] += found["checks"]
        probes["failed"] += found["checks"] - found["ok"]
    states = dict(
        Monitor.objects.values_list("state").annotate(n=Count("pk")).values_list("state", "n")
    )
    up, down = states.get(Monitor.State.UP, 0), states.get(Monitor.State.DOWN, 0)
    if down:
        status = "down"
    elif probes["failed"]:
        status = "warn"
    elif probes["total"] or up:
        status = "ok"
    else:
        status = "idle"
    recent = ProbeResult.objects.only(
        "kind", "target", "status", "started_at", "response_ms", "error_code"
    )[:5]
    rows = [
        {
            "badge": r.status,
            "tone": tone(r.status),
            "text": f"{r.kind} {r.target}"
            + (f" · {r.response_ms:.0f} ms" if r.ok and r.response_ms is not None else "")
            + (f" · {r.error_code}" if r.error_code else ""),
            "when": r.started_at,
        }
        for r in recent
    ]
    return {
        "status": status,
        "stats": [
            {"label": "Probes (24 h)", "value": probes["total"], "tone": ""},
            {
                "label": "Failed (24 h)",
                "value": probes["failed"],
                "tone": "down" * bool(probes["failed"]),
            },
            {
                "label": "Monitors up / down",
                "value": f"{up} / {down}",
                "tone": "down" if down else ("ok" if up else ""),
            },
        ],
        "rows": rows,
        "empty": "No probe yet: run one from the NetProbe page.",
    }


def _probe_page(
    request: HttpRequest,
    *,
    kind: str = "http",
    target: str = "",
    options: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    locations: list[str] | None = None,
) -> HttpResponse:
    errors = errors or {}
    context = {
        "kinds": Kind.choices,
        "kind": kind,
        "target": target,
        "ticked": locations,  # None: a new form, the hub ticked; else the boxes sent
        "target_help": TARGETS,
        "fieldsets": fieldsets(kind=kind, options=options, errors=option_errors(errors)),
        "errors": errors,
        "recent": ProbeResult.objects.select_related("monitor").defer(*LIST_DEFER)[:10],
        "monitors": Monitor.objects.select_related("last_result")[:8],
    }
    return render(request, "netprobe/index.html", context, status=status)


@viewer_required
def index(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "http")
    return _probe_page(
        request,
        kind=kind if kind in Kind.values else "http",
        target=request.GET.get("target", "")[:2048],
    )


@require_POST
@operator_required
def run(request: HttpRequest) -> HttpResponse:
    kind = request.POST.get("kind", "")
    target = request.POST.get("target", "").strip()
    options = options_from_post(kind, request.POST)
    locations = request.POST.getlist("locations")
    try:
        spec = services.probe_validate(kind=kind, target=target, options=options)
        if locations and not is_local_only(locations):
            measured = services.probe_run(spec=spec, user=request.user, locations=locations)
            return measurement_redirect(request, measured)
        row = services.probe_run(spec=spec, user=request.user)
    except LocationsInvalid as exc:
        return _probe_page(
            request,
            kind=kind,
            target=target,
            options=options,
            errors={"locations": exc.message},
            status=400,
            locations=locations,
        )
    except ProbeOptionsError as exc:
        return _probe_page(
            request,
            kind=kind if kind in Kind.values else "http",
            target=target,
            options=options,
            errors=exc.errors,
            status=400,
            locations=locations,
        )
    except EgressForbidden as exc:
        return _probe_page(
            request,
            kind=kind,
            target=target,
            options=options,
            errors={"target": f"Refused by the egress policy: {exc.message}. Nothing was sent."},
            status=400,
            locations=locations,
        )
    return redirect("netprobe:result", pk=row.pk)


@viewer_required
def result_detail(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(ProbeResult.objects.select_related("monitor", "created_by"), pk=pk)
    context = {
        "r": row,
        "view": result_view(row),
        "raw_json": json.dumps(ProbeResultSerializer(row).data, indent=2, default=str),
        "options_json": json.dumps(row.options or {}),
        "locations": measurement_view(row),
    }
    return render(request, "netprobe/result.html", context)


@viewer_required
def history(request: HttpRequest) -> HttpResponse:
    queryset = ProbeResult.objects.select_related("monitor").defer(*LIST_DEFER)
    f = {k: request.GET.get(k, "").strip() for k in ("kind", "status", "q", "since", "until")}
    if f["kind"] in Kind.values:
        queryset = queryset.filter(kind=f["kind"])
    if f["status"] in Status.values:
        queryset = queryset.filter(status=f["status"])
    if "\x00" in f["q"]:  # PostgreSQL refuses NUL in a query
        messages.warning(request, "Target filter ignored: it must not contain NUL characters.")
        f["q"] = ""
    if f["q"]:
        queryset = queryset.filter(target__icontains=f["q"])
    for key, lookup in (("since", "started_at__gte"), ("until", "started_at__lt")):
        moment = _moment(f[key])
        if moment is None and f[key]:
            shown = f[key][:40]
            messages.warning(
                request, f"{key.title()} filter ignored: not a valid date and time ({shown!r})."
            )
            f[key] = ""
        if moment is not None:
            queryset = queryset.filter(**{lookup: moment})
    page = Paginator(queryset, HISTORY_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "filters": f,
        "kinds": Kind.choices,
        "statuses": Status.choices,
        "query": query.urlencode(),
    }
    return render(request, "netprobe/history.html", context)


def _moment(text: str) -> datetime | None:
    """An ISO date and time (naive: the current time zone); None when blank or not a real one."""
    try:
        moment = parse_datetime(text) if text and "\x00" not in text else None
    except ValueError:  # well-formed but impossible, e.g. month 13
        return None
    if moment is not None and timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def _maintenance_since(beats: Iterable[list[ProbeResult]], since: datetime) -> datetime:
    """Far enough back for the uptime window and every beat shown."""
    return min([since, *(checks[0].started_at for checks in beats if checks)])


def _live(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A live part's endpoint: never cached; a signed-out page reloads (to the login form)
    instead of having the login page swapped into it."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return HttpResponseClientRefresh()
        return viewer_required(view)(request, *args, **kwargs)

    return never_cache(wrapper)


def _live_part(
    request: HttpRequest, template: str, context: dict[str, Any], version: str
) -> SafeString:
    """The part a page refreshes, closed by its version (the page sends it back)."""
    body = render_to_string(template, context, request=request)
    return body + format_html('<input type="hidden" name="v" value="{}">', version)


def _live_response(
    request: HttpRequest, template: str, version: str, context: Callable[[], dict[str, Any]]
) -> HttpResponse:
    if request.GET.get("v") == version:
        # Nothing changed: 204 leaves the page alone, so a hovered beat keeps its tooltip and
        # a focused link its focus; htmx keeps polling either way.
        return HttpResponse(status=204)
    return HttpResponse(_live_part(request, template, context(), version))


def _scheduler_on() -> bool:
    return getattr(settings, "NETPROBE_SCHEDULER", "thread") == "thread"


def _monitors_context() -> dict[str, Any]:
    """Every monitor's row in a fixed number of queries, however many monitors there are."""
    now = timezone.now()
    since = now - WINDOWS["24h"]
    monitors = list(with_latest_transition(Monitor.objects.select_related("last_result")))
    ids = [m.pk for m in monitors]
    beats = monitors_heartbeats(ids, LIST_BEATS)
    spans = maintenance.coverage_of(ids, _maintenance_since(beats.values(), since), now)
    need = quorums(monitors)
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
        "live": _live_part(request, "netprobe/_monitors_live.html", _monitors_context(), version),
        "refresh_s": LIVE_REFRESH_S,
        "scheduler_on": _scheduler_on(),
    }
    return render(request, "netprobe/monitors.html", context)


@_live
def monitors_live(request: HttpRequest) -> HttpResponse:
    version = live_version(monitors_activity())
    return _live_response(request, "netprobe/_monitors_live.html", version, _monitors_context)


def _monitor_context(monitor: Monitor, window: str) -> dict[str, Any]:
    now = timezone.now()
    points = services.monitor_series(monitor, window, now=now)
    beats = monitor_heartbeats(monitor)
    since = _maintenance_since([beats], now - max(WINDOWS.values()))
    spans = maintenance.coverage_of([monitor.pk], since, now).get(monitor.pk, [])
    return {
        "m": monitor,
        "window": window,
        "windows": list(WINDOWS),
        "state": state_summary(monitor, monitor_state_since(monitor), now),
        "heartbeat": heartbeat(beats, maintenance=spans),
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
    context["live"] = _live_part(request, "netprobe/_monitor_live.html", context, version)
    context["refresh_s"] = LIVE_REFRESH_S
    return render(request, "netprobe/monitor.html", context)


@_live
def monitor_live(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = Monitor.objects.select_related("last_result", "sos_group").filter(pk=pk).first()
    if monitor is None:  # deleted meanwhile: the reloaded page says so
        return HttpResponseClientRefresh()
    window = _window(request)
    version = live_version(monitor_activity(monitor), window, location_activity(monitor))
    return _live_response(
        request,
        "netprobe/_monitor_live.html",
        version,
        lambda: _monitor_context(monitor, window),
    )


@require_POST
@operator_required
def monitor_pause(request: HttpRequest, pk: int) -> HttpResponse:
    return _switch(request, pk, services.monitor_pause, "paused: it runs no check until resumed")


@require_POST
@operator_required
def monitor_resume(request: HttpRequest, pk: int) -> HttpResponse:
    return _switch(request, pk, services.monitor_resume, "resumed: its next check is due now")


def _switch(
    request: HttpRequest, pk: int, action: Callable[..., Monitor], outcome: str
) -> HttpResponse:
    monitor = action(monitor=get_object_or_404(Monitor, pk=pk))
    messages.success(request, f"Monitor {monitor.name!r} {outcome}.")
    return redirect("netprobe:monitor", pk=monitor.pk)


def _monitor_form_page(
    request: HttpRequest,
    form: MonitorForm,
    *,
    monitor: Monitor | None,
    options: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    kind = form["kind"].value() or "http"
    context = {
        "form": form,
        "m": monitor,
        "fieldsets": fieldsets(kind=kind, options=options, errors=option_errors(errors or {})),
        "target_help": TARGETS,
    }
    return render(request, "netprobe/monitor_form.html", context, status=status)


def _save_monitor(request: HttpRequest, monitor: Monitor | None) -> HttpResponse:
    form = MonitorForm(request.POST)
    kind = request.POST.get("kind", "")
    options = options_from_post(kind, request.POST)
    if not form.is_valid():
        return _monitor_form_page(request, form, monitor=monitor, options=options, status=400)
    fields = {**form.cleaned_data, "options": options}
    try:
        if monitor is None:
            monitor = services.monitor_create(user=request.user, **fields)
        else:
            monitor = services.monitor_update(monitor=monitor, **fields)
    except ProbeOptionsError as exc:
        for name, message in exc.errors.items():
            if name in form.fields:
                form.add_error(name, message)
        return _monitor_form_page(
            request, form, monitor=monitor, options=options, errors=exc.errors, status=400
        )
    except EgressForbidden as exc:
        form.add_error("target", f"Refused by the egress policy: {exc.message}")
        return _monitor_form_page(request, form, monitor=monitor, options=options, status=400)
    messages.success(request, f"Monitor {monitor.name!r} saved.")
    return redirect("netprobe:monitor", pk=monitor.pk)


@operator_required
def monitor_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _save_monitor(request, None)
    source = None
    if (result_id := request.GET.get("result", "")).isdecimal() and len(result_id) < 19:
        source = ProbeResult.objects.filter(pk=int(result_id)).first()
    initial, options = monitor_prefill(source, request.GET)
    return _monitor_form_page(request, MonitorForm(initial=initial), monitor=None, options=options)


@operator_required
def monitor_edit(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_or_404(Monitor, pk=pk)
    if request.method == "POST":
        return _save_monitor(request, monitor)
    initial = {name: getattr(monitor, name) for name in MonitorForm.base_fields}
    form = MonitorForm(initial=initial)
    return _monitor_form_page(request, form, monitor=monitor, options=monitor.options)


@require_POST
@operator_required
def monitor_delete(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_or_404(Monitor, pk=pk)
    monitor.delete()
    messages.success(request, f"Monitor {monitor.name!r} deleted; its results stay in history.")
    return redirect("netprobe:monitors")
