"""Operator UI for status pages: list, create and edit pages, post incidents and updates,
schedule maintenance. Viewers read; the forms are for operators. Thin: the services in status.py
do the work and their StatusInvalid errors go back onto the form."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Count, Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from modules.netprobe import maintenance, status
from modules.netprobe.models import Monitor
from modules.netprobe.status_forms import (
    WEEKDAYS,
    IncidentForm,
    IncidentUpdateForm,
    MaintenanceForm,
    StatusPageForm,
)
from modules.netprobe.status_models import (
    Incident,
    IncidentUpdate,
    MaintenanceWindow,
    StatusPage,
)
from modules.netprobe.status_snapshot import status_changed
from portal.roles import operator_required, viewer_required


def _errors_onto(form: forms.Form, exc: status.StatusInvalid) -> None:
    for name, text in exc.errors.items():
        form.add_error(name if name in form.fields else None, text)


@viewer_required
def pages(request: HttpRequest) -> HttpResponse:
    rows = StatusPage.objects.annotate(
        open_incidents=Count("incidents", filter=Q(incidents__resolved_at__isnull=True)),
        monitor_count=Count("groups__items", distinct=True),
    )
    now = timezone.now()
    names = dict(WEEKDAYS)
    windows = [
        {
            "w": w,
            "next": maintenance.current_or_next(w, now),
            "days": ", ".join(names[d] for d in w.weekdays or [] if d in names),
        }
        for w in MaintenanceWindow.objects.prefetch_related("monitors", "pages")
    ]
    return render(request, "netprobe/status/manage_list.html", {"pages": rows, "windows": windows})


def _monitor_rows(request: HttpRequest, page: StatusPage | None) -> list[dict[str, Any]]:
    """Every monitor with its place on the page: included, group name, position."""
    placed: dict[int, tuple[str, int]] = {}
    if page is not None:
        for group in page.groups.prefetch_related("items"):
            for item in group.items.all():
                placed[item.monitor_id] = (group.name, item.position)
    rows = []
    for m in Monitor.objects.only("name", "kind", "target"):
        if request.method == "POST":
            included = request.POST.get(f"m{m.pk}-include") == "on"
            group = request.POST.get(f"m{m.pk}-group", "").strip() or "Services"
            position = request.POST.get(f"m{m.pk}-position", "0")
        else:
            included = m.pk in placed
            group, position = placed.get(m.pk, ("Services", 0))
        rows.append({"m": m, "included": included, "group": group, "position": position})
    return rows


def _groups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Groups in the order of their first monitor's position; monitors by position."""

    def position(row: dict[str, Any]) -> int:
        try:
            return int(row["position"])
        except (TypeError, ValueError):
            return 0

    chosen = sorted((r for r in rows if r["included"]), key=lambda r: (position(r), r["m"].name))
    groups: dict[str, list[int]] = {}
    for row in chosen:
        groups.setdefault(row["group"][:100], []).append(row["m"].pk)
    return [{"name": name, "monitors": ids} for name, ids in groups.items()]


@operator_required
def page_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    page = get_object_or_404(StatusPage, pk=pk) if pk is not None else None
    rows = _monitor_rows(request, page)
    if request.method == "POST":
        form = StatusPageForm(request.POST)
        if form.is_valid():
            try:
                page = status.status_page_save(
                    page=page, user=request.user, groups=_groups(rows), **form.cleaned_data
                )
            except status.StatusInvalid as exc:
                _errors_onto(form, exc)
            else:
                messages.success(request, f"Status page {page.title!r} saved.")
                return redirect("netprobe:status-page", pk=page.pk)
        code = 400
    else:
        initial = {}
        if page is not None:
            initial = {f: getattr(page, f) for f in ("title", "slug", "description", "public")}
        form, code = StatusPageForm(initial=initial), 200
    context = {"form": form, "page": page, "rows": rows}
    return render(request, "netprobe/status/manage_form.html", context, status=code)


@viewer_required
def page_detail(request: HttpRequest, pk: int) -> HttpResponse:
    page = get_object_or_404(StatusPage, pk=pk)
    updates = IncidentUpdate.objects.select_related("by")
    incidents = page.incidents.prefetch_related(Prefetch("updates", queryset=updates))[:50]
    context = {
        "page": page,
        "incidents": incidents,
        "incident_form": IncidentForm(),
        "update_form": IncidentUpdateForm(initial={"status": "identified"}),
    }
    return render(request, "netprobe/status/manage_detail.html", context)


@require_POST
@operator_required
def incident_create(request: HttpRequest, pk: int) -> HttpResponse:
    page = get_object_or_404(StatusPage, pk=pk)
    form = IncidentForm(request.POST)
    if form.is_valid():
        try:
            status.incident_create(page=page, user=request.user, **form.cleaned_data)
        except status.StatusInvalid as exc:
            _errors_onto(form, exc)
        else:
            messages.success(request, "Incident posted.")
            return redirect("netprobe:status-page", pk=page.pk)
    messages.error(request, "Incident not posted: " + _text(form))
    return redirect("netprobe:status-page", pk=page.pk)


@require_POST
@operator_required
def incident_post_update(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    form = IncidentUpdateForm(request.POST)
    if form.is_valid():
        status.incident_update(incident=incident, user=request.user, **form.cleaned_data)
        messages.success(request, f"Update posted to {incident.title!r}.")
    else:
        messages.error(request, "Update not posted: " + _text(form))
    return redirect("netprobe:status-page", pk=incident.page_id)


def _text(form: forms.Form) -> str:
    return "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())


@operator_required
def maintenance_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    window = get_object_or_404(MaintenanceWindow, pk=pk) if pk is not None else None
    if request.method == "POST":
        form = MaintenanceForm(request.POST)
        if form.is_valid():
            try:
                window = status.maintenance_save(
                    window=window, user=request.user, **form.cleaned_data
                )
            except status.StatusInvalid as exc:
                _errors_onto(form, exc)
            else:
                messages.success(request, f"Maintenance {window.title!r} scheduled.")
                return redirect("netprobe:status-pages")
        code = 400
    else:
        initial = MaintenanceForm.initial_for(window) if window else {}
        form, code = MaintenanceForm(initial=initial), 200
    context = {"form": form, "window": window}
    return render(request, "netprobe/status/maintenance_form.html", context, status=code)


@require_POST
@operator_required
def maintenance_delete(request: HttpRequest, pk: int) -> HttpResponse:
    window = get_object_or_404(MaintenanceWindow, pk=pk)
    window.delete()
    status_changed()
    messages.success(request, f"Maintenance {window.title!r} deleted.")
    return redirect("netprobe:status-pages")
