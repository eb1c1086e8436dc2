"""`manage.py finops [--requests-per-month N --avg-ms X --memory-mb M] [--json]`: what the portal
costs a month on Lambda and on EKS, and the traffic at which EKS becomes cheaper.

Figures not given come from the portal's own traffic of the last 30 days; memory defaults to the
Lambda function's (zappa_settings.json). A negative or non-numeric figure exits 2 (argparse).
"""

from __future__ import annotations

import argparse
import json
from argparse import ArgumentParser
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand

from portal.finops import costs, services
from portal.finops.chart import short

PLATFORM_NAMES = {"lambda": "Lambda", "eks": "EKS"}


def _figure(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except costs.FigureError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return convert


class Command(BaseCommand):
    help = "Monthly cost on Lambda against EKS, from measured traffic or given figures."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--requests-per-month",
            type=_figure(costs.parse_requests),
            metavar="N",
            help="default: measured over the last 30 days, scaled to a month",
        )
        parser.add_argument(
            "--avg-ms",
            type=_figure(costs.parse_avg_ms),
            metavar="X",
            help="average request duration in ms; default: measured",
        )
        parser.add_argument(
            "--memory-mb",
            type=_figure(costs.parse_memory_mb),
            metavar="M",
            help="Lambda memory; default: the function's (zappa_settings.json memory_size)",
        )
        parser.add_argument("--json", action="store_true", help="print a stable JSON object")

    def handle(self, *args: Any, **opts: Any) -> None:
        report = services.finops_report(
            requests_per_month=opts["requests_per_month"],
            avg_ms=opts["avg_ms"],
            memory_mb=opts["memory_mb"],
        )
        if opts["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
            return
        self.stdout.write(self._table(report))

    def _table(self, report: services.Report) -> str:
        c = report.comparison
        source = (
            f"measured over {report.traffic.days_counted} day(s)" if report.measured else "given"
        )
        out = [
            f"Traffic: {c.requests_per_month:,.0f} requests/month ({source}), "
            f"{c.avg_ms:.0f} ms average, {c.memory_mb} MB Lambda memory",
            f"Prices: {report.book.region} list prices, checked {report.book.checked()}",
            "",
        ]
        for title, platform in (("Lambda", c.lam), (f"EKS ({c.eks.facts['nodes']} nodes)", c.eks)):
            out.append(f"{title:<44} {'USD/month':>12}")
            for line in platform.lines(c.requests_per_month):
                name = f"  {line.name}{' (shared)' if line.shared else ''}"
                out.append(f"{name:<44} {line.amount:>12,.2f}")
            out.append(f"{'  Total':<44} {platform.cost(c.requests_per_month):>12,.2f}")
            out.append("")
        if c.crossover is None:
            out.append("EKS is never cheaper at these figures.")
        else:
            out.append(
                f"EKS becomes cheaper from {c.crossover:,.0f} requests/month "
                f"({short(c.crossover)}); today {PLATFORM_NAMES[c.cheaper]} is cheaper."
            )
        return "\n".join(out)
