"""Operator UI: run probes, read results, browse history, manage monitors; the dashboard card.

Viewers see everything; the forms are shown to operators only, and the POST views refuse others
with 403. Views are thin: they call the same services as the API and the CLI.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_POST

from modules.netprobe import services
from modules.netprobe.forms import (
    MonitorForm,
    fieldsets,
    option_errors,
    options_from_post,
)
from modules.netprobe.models import Kind, Monitor, ProbeResult, Status
from modules.netprobe.present import chart, result_view, tone
from modules.netprobe.probes import ProbeOptionsError
from modules.netprobe.probes.catalog import TARGETS
from modules.netprobe.selectors import WINDOWS
from modules.netprobe.serializers import ProbeResultSerializer
from portal.egress import EgressForbidden
from portal.roles import operator_required, viewer_required

HISTORY_PAGE = 50
LIST_DEFER = ("result", "options", "resolved")  # the JSON bodies: not needed in tables


def card_context(request: HttpRequest) -> dict[str, Any]:
    day_ago = timezone.now() - timedelta(hours=24)
    probes = ProbeResult.objects.filter(started_at__gte=day_ago).aggregate(
        total=Count("pk"), failed=Count("pk", filter=~Q(status=Status.OK))
    )
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
) -> HttpResponse:
    errors = errors or {}
    context = {
        "kinds": Kind.choices,
        "kind": kind,
        "target": target,
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
    try:
        spec = services.probe_validate(kind=kind, target=target, options=options)
        row = services.probe_run(spec=spec, user=request.user)
    except ProbeOptionsError as exc:
        return _probe_page(
            request,
            kind=kind if kind in Kind.values else "http",
            target=target,
            options=options,
            errors=exc.errors,
            status=400,
        )
    except EgressForbidden as exc:
        return _probe_page(
            request,
            kind=kind,
            target=target,
            options=options,
            errors={"target": f"Refused by the egress policy: {exc.message}. Nothing was sent."},
            status=400,
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


def _monitor_row(monitor: Monitor, now: Any) -> dict[str, Any]:
    since = now - WINDOWS["24h"]
    points = services.monitor_series(monitor, "24h", now=now, max_points=96)
    return {
        "m": monitor,
        "uptime": services.monitor_uptime(monitor, "24h", now=now),
        "chart": chart(points, since, now, width=240, height=40),
    }


@viewer_required
def monitors(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    rows = [_monitor_row(m, now) for m in Monitor.objects.select_related("last_result")]
    return render(request, "netprobe/monitors.html", {"rows": rows})


@viewer_required
def monitor_detail(request: HttpRequest, pk: int) -> HttpResponse:
    monitor = get_object_or_404(Monitor.objects.select_related("last_result", "sos_group"), pk=pk)
    window = request.GET.get("window", "24h")
    window = window if window in WINDOWS else "24h"
    now = timezone.now()
    points = services.monitor_series(monitor, window, now=now)
    context = {
        "m": monitor,
        "window": window,
        "windows": list(WINDOWS),
        "uptimes": [services.monitor_uptime(monitor, w, now=now) for w in WINDOWS],
        "chart": chart(points, now - WINDOWS[window], now),
        "transitions": monitor.transitions.select_related("result")[:50],
        "results": monitor.results.select_related("monitor").defer(*LIST_DEFER)[:20],
    }
    return render(request, "netprobe/monitor.html", context)


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
    form = MonitorForm(
        initial={"kind": request.GET.get("kind", "http"), "target": request.GET.get("target", "")}
    )
    return _monitor_form_page(request, form, monitor=None, options={})


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
