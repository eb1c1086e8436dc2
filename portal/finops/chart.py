"""Both monthly cost curves as SVG geometry, drawn on the server (no chart library).

Each curve is piecewise linear in requests a month, so a polyline through its breakpoints is
exact, not a sampling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from portal.finops.costs import Comparison, Platform

WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 76, 24, 28, 40


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    label: str
    anchor: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    plot: tuple[float, float, float, float]  # left, top, right, bottom
    lambda_points: str
    eks_points: str
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    today: Marker
    crossover: Marker | None
    x_max: float


def _nice(value: float) -> float:
    """A round axis end at or above value, in quarters that read well (1, 1.2, 1.6, 2, ...)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    steps = (1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8, 10)
    return next(m * power for m in steps if m * power >= value * (1 - 1e-9))


def short(value: float, money: bool = False) -> str:
    prefix = "$" if money else ""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{prefix}{value / size:.3g}{suffix}"
    return f"{prefix}{value:.0f}"


def cost_chart(c: Comparison) -> Chart:
    reach = max(c.requests_per_month, c.crossover or 0.0, 1e6)
    x_max = _nice(reach * 1.6)
    y_max = _nice(max(c.lam.cost(x_max), c.eks.cost(x_max)) * 1.05)
    left, top, right, bottom = LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM

    def px(r: float) -> float:
        return round(left + (right - left) * min(r, x_max) / x_max, 1)

    def py(cost: float) -> float:
        return round(bottom - (bottom - top) * min(cost, y_max) / y_max, 1)

    def polyline(p: Platform) -> str:
        xs = sorted({0.0, x_max, *(b for b in p.breakpoints() if 0 < b < x_max)})
        return " ".join(f"{px(r)},{py(p.cost(r))}" for r in xs)

    x_ticks = [Tick(px(x_max * i / 4), bottom, short(x_max * i / 4)) for i in range(5)]
    y_ticks = [Tick(left, py(y_max * i / 4), short(y_max * i / 4, money=True)) for i in range(5)]
    today_x = px(c.requests_per_month)
    today = Marker(today_x, top, "today", "start" if today_x < (left + right) / 2 else "end")
    crossover = None
    if c.crossover is not None and c.crossover <= x_max:
        x = px(c.crossover)
        crossover = Marker(x, py(c.eks.cost(c.crossover)), short(c.crossover), "middle")
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        plot=(left, top, right, bottom),
        lambda_points=polyline(c.lam),
        eks_points=polyline(c.eks),
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        today=today,
        crossover=crossover,
        x_max=x_max,
    )
