"""The price book: list prices from prices.json, each with its tiers, unit, source and the date
it was checked, plus the topology, node and pods they are applied to; overrides laid over it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).with_name("prices.json")


@dataclass(frozen=True)
class Tier:
    up_to: float | None  # cumulative quantity where this tier ends; None: no end
    value: float


@dataclass(frozen=True)
class Price:
    name: str
    tiers: tuple[Tier, ...]
    unit: str = ""
    source: str = ""
    checked: str = ""

    @property
    def value(self) -> float:
        return self.tiers[0].value


@dataclass(frozen=True)
class PriceBook:
    prices: dict[str, Price]
    topology: dict[str, Any]
    node: dict[str, float]
    pods: tuple[dict[str, Any], ...]
    hours_per_month: float = 730.0
    region: str = "us-east-1"
    notes: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Price:
        return self.prices[name]

    def checked(self) -> str:
        """The oldest date a price was checked: what the whole book can claim."""
        return min((p.checked for p in self.prices.values() if p.checked), default="")


def _tiers(raw: Any) -> tuple[Tier, ...]:
    if isinstance(raw, (int, float)):
        return (Tier(None, float(raw)),)
    tiers = tuple(Tier(t.get("up_to"), float(t["value"])) for t in raw)
    if not tiers or tiers[-1].up_to is not None:
        raise ValueError("the last tier must have no upper bound (up_to: null)")
    return tiers


def _price(name: str, raw: Mapping[str, Any]) -> Price:
    tiers = _tiers(raw["tiers"] if "tiers" in raw else raw["value"])
    return Price(name, tiers, raw.get("unit", ""), raw.get("source", ""), raw.get("checked", ""))


def load_prices(
    path: Path | str | None = None, overrides: Mapping[str, Any] | None = None
) -> PriceBook:
    """The prices file, with `overrides` laid over it: a price name maps to a number, a list of
    tiers or an object like the file's; `topology`, `node` and `pods` replace their keys."""
    data = json.loads(Path(path or PRICES_FILE).read_text())
    prices = {name: _price(name, raw) for name, raw in data["prices"].items()}
    topology = dict(data["topology"])
    node = dict(data["node"])
    pods = tuple(data["pods"])
    for name, raw in (overrides or {}).items():
        if name == "topology":
            topology.update(raw)
        elif name == "node":
            node.update(raw)
        elif name == "pods":
            pods = tuple(raw)
        elif name not in prices:
            raise ValueError(f"unknown price {name!r}; known: {', '.join(sorted(prices))}")
        elif isinstance(raw, Mapping):
            base = prices[name]
            merged = {"unit": base.unit, "source": base.source, "checked": base.checked, **raw}
            prices[name] = _price(name, merged)
        else:
            base = prices[name]
            prices[name] = Price(name, _tiers(raw), base.unit, "override", "")
    return PriceBook(
        prices=prices,
        topology=topology,
        node=node,
        pods=pods,
        hours_per_month=float(data.get("hours_per_month", 730)),
        region=data.get("region", "us-east-1"),
        notes=dict(data.get("notes", {})),
    )
