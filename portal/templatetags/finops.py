from __future__ import annotations

from django import template

from portal.finops.chart import short

register = template.Library()


@register.filter
def usd(value: float) -> str:
    return f"${value:,.2f}"


@register.filter
def requests(value: float) -> str:
    return short(float(value))


@register.filter
def count(value: int) -> str:
    return f"{value:,}"


@register.filter
def price(value: float) -> str:
    """Unit prices span $0.0000002 to $0.40, free tiers 400,000: every digit that counts."""
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.10f}".rstrip("0").rstrip(".")
