"""The roll-call page of an alert: who is safe, who needs help, who has not answered. Live
while answers can come in; a CSV export of the same rows."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render

from modules.sos.models import Alert
from modules.sos.roll_call import (
    RollCall,
    alert_roll_call,
    roll_call_csv,
    roll_call_filename,
    roll_call_filters,
)
from portal.roles import viewer_required

ROWS = 500  # rows on the page; the CSV export and the API carry everyone


def _filters(params: QueryDict) -> dict[str, Any]:
    return roll_call_filters(
        status=params.get("status", ""),
        group=params.get("group", ""),
        q=params.get("q", ""),
        lenient=True,
    )


def _context(request: HttpRequest, alert: Alert) -> dict[str, Any]:
    filters = _filters(request.GET)
    roll_call: RollCall = alert_roll_call(alert=alert, **filters)
    return {
        "alert": alert,
        "rc": roll_call,
        "rows": roll_call.people[:ROWS],
        "more": len(roll_call.people) - ROWS,
        "filters": filters,
        "query": request.GET.urlencode(),
        "filtered": any(filters.values()),
    }


@viewer_required
def roll_call(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    return render(request, "sos/roll_call.html", _context(request, alert))


@viewer_required
def roll_call_live(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    return render(request, "sos/_roll_call.html", _context(request, alert))


@viewer_required
def roll_call_export(request: HttpRequest, pk: int) -> HttpResponse:
    alert = get_object_or_404(Alert, pk=pk)
    rc = alert_roll_call(alert=alert, **_filters(request.GET))
    response = HttpResponse(roll_call_csv(rc), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{roll_call_filename(rc)}"'
    response["Cache-Control"] = "no-store"
    return response
