from __future__ import annotations

from collections import defaultdict

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from portal.finops import services
from portal.finops.chart import cost_chart
from portal.finops.forms import FiguresForm
from portal.roles import staff_or_operator_required


@staff_or_operator_required
def infrastructure(request: HttpRequest) -> HttpResponse:
    form = FiguresForm(request.GET or None)
    figures = form.cleaned_data if form.is_valid() else {}
    report = services.finops_report(**figures, with_traffic=True)
    c = report.comparison
    days: dict = defaultdict(dict)
    for row in report.traffic.rows:
        days[row.day][row.module] = row
    modules = ["portal", *settings.KNOWN_MODULES]
    context = {
        "form": form,
        "report": report,
        "c": c,
        "chart": cost_chart(c),
        "lambda_lines": c.lam.lines(c.requests_per_month),
        "eks_lines": c.eks.lines(c.requests_per_month),
        "modules": modules,
        "days": [(day, [days[day].get(m) for m in modules]) for day in sorted(days, reverse=True)],
        "overridden": bool(settings.FINOPS_PRICES),
        "prices": sorted(report.book.prices.values(), key=lambda p: p.name),
    }
    return render(request, "finops/infrastructure.html", context)
