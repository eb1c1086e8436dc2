"""Operator UI: run probes, read results, browse history; the dashboard card.

Viewers see everything; the forms are shown to operators only, and the POST views refuse others
with 403. Views are thin: they call the same services as the API and the CLI. The monitor pages
live in views_monitors.py (reading) and views_monitor_edit.py (changing).
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
from modules.netprobe.forms import fieldsets, option_errors, options_from_post
from modules.netprobe.location_pages import measurement_redirect, measurement_view
from modules.netprobe.models import Kind, Monitor, ProbeResult, Status
from modules.netprobe.present import result_view, tone
from modules.netprobe.probes import ProbeOptionsError
from modules.netprobe.probes.catalog import TARGETS
from modules.netprobe.rounds import quorums, round_counts
from modules.netprobe.selectors import LIST_DEFER
from modules.netprobe.serializers import ProbeResultSerializer
from modules.netprobe.vantages.fanout import LocationsInvalid, is_local_only
from portal.egress import EgressForbidden
from portal.roles import operator_required, viewer_required

HISTORY_PAGE = 50


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
