"""Changing monitors: create, edit, pause, resume, delete (operators only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from modules.netprobe import services
from modules.netprobe.forms import (
    MonitorForm,
    fieldsets,
    monitor_prefill,
    option_errors,
    options_from_post,
)
from modules.netprobe.models import Monitor, ProbeResult
from modules.netprobe.probes import ProbeOptionsError
from modules.netprobe.probes.catalog import TARGETS
from portal.egress import EgressForbidden
from portal.roles import operator_required


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
