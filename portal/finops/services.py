"""The FinOps report: measured (or given) traffic priced on Lambda and on EKS, and its chart."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from portal.finops import costs, prices
from portal.finops.selectors import Traffic, traffic_measured

# Until the portal has counted a request there is no measured duration to price.
DEFAULT_AVG_MS = 200.0
FALLBACK_MEMORY_MB = 2048


def price_book() -> prices.PriceBook:
    return prices.load_prices(overrides=settings.FINOPS_PRICES)


def default_memory_mb() -> int:
    """The function's memory: Lambda says it in the environment; elsewhere zappa_settings.json
    (the production stage, which extends dev) does."""
    configured = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    if configured and configured.isdigit():
        return int(configured)
    try:
        stages = json.loads((settings.BASE_DIR / "zappa_settings.json").read_text())
    except (OSError, ValueError):
        return FALLBACK_MEMORY_MB
    stage = stages.get("production", {})
    while "memory_size" not in stage and stage.get("extends") in stages:
        stage = stages[stage["extends"]]
    return int(stage.get("memory_size", FALLBACK_MEMORY_MB))


@dataclass(frozen=True)
class Report:
    comparison: costs.Comparison
    book: prices.PriceBook
    traffic: Traffic
    measured: bool  # the requests a month come from the portal's own counts

    def as_dict(self) -> dict[str, Any]:
        data = costs.as_dict(self.comparison, self.book)
        data["inputs"]["source"] = "measured" if self.measured else "given"
        data["inputs"]["measured_days"] = self.traffic.days_counted
        return data


def finops_report(
    *,
    requests_per_month: float | None = None,
    avg_ms: float | None = None,
    memory_mb: int | None = None,
    with_traffic: bool = False,
) -> Report:
    """Figures not given come from the last 30 days of counted traffic; with both figures given
    the database is read only `with_traffic` (the page shows the counts anyway)."""
    needed = with_traffic or requests_per_month is None or avg_ms is None
    traffic = traffic_measured() if needed else Traffic.nothing()
    measured = requests_per_month is None
    if requests_per_month is None:
        requests_per_month = traffic.requests_per_month
    if avg_ms is None:
        avg_ms = traffic.avg_ms or DEFAULT_AVG_MS
    book = price_book()
    comparison = costs.compare(
        book,
        requests_per_month=requests_per_month,
        avg_ms=avg_ms,
        memory_mb=memory_mb or default_memory_mb(),
    )
    return Report(comparison, book, traffic, measured)
