"""What the portal costs a month on Lambda and on EKS, and the traffic at which EKS gets cheaper.

Django-free: prices come from the price book (prices.py), traffic from the caller. Every charge
is either fixed or grows with requests a month through a tiered price, so each platform's monthly
cost is piecewise linear in traffic and the crossover is found segment by segment in closed form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from portal.finops.prices import Price, PriceBook

MEMORY_MB_RANGE = (128, 10_240)  # what Lambda accepts
MAX_AVG_MS = 900_000.0  # Lambda's 15-minute timeout
LCU_NEW_CONNECTIONS_PER_HOUR = 25 * 3600  # one LCU: 25 new connections a second for an hour


class FigureError(ValueError):
    """A traffic figure that cannot be used; the message says why."""


def parse_requests(text: str | float) -> float:
    return _number(text, minimum=0.0, allow_equal=True, what="0 or more")


def parse_avg_ms(text: str | float) -> float:
    value = _number(text, minimum=0.0, allow_equal=False, what="more than 0")
    if value > MAX_AVG_MS:
        raise FigureError(f"must be at most {MAX_AVG_MS:.0f} ms (Lambda's timeout), got {text!r}")
    return value


def parse_memory_mb(text: str | float) -> int:
    value = _number(text, minimum=0.0, allow_equal=False, what="more than 0")
    low, high = MEMORY_MB_RANGE
    if value != int(value) or not low <= value <= high:
        raise FigureError(f"must be a whole number of MB from {low} to {high}, got {text!r}")
    return int(value)


def _number(text: str | float, *, minimum: float, allow_equal: bool, what: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise FigureError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise FigureError(f"must be a finite number, got {text!r}")
    if value < minimum or (value == minimum and not allow_equal):
        raise FigureError(f"must be {what}, got {text!r}")
    return value


# --- Charges ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    name: str
    amount: float
    detail: str
    shared: bool = False  # the same charge on both platforms (it cannot move the crossover)


@dataclass(frozen=True)
class Usage:
    """A charge that grows with traffic r (requests a month): a quantity of
    `per_request * r + base`, of which `free` costs nothing, billed through the price's tiers."""

    name: str
    price: Price
    per_request: float
    base: float = 0.0
    free: float = 0.0
    unit: str = ""

    def quantity(self, r: float) -> float:
        return self.per_request * r + self.base

    def cost(self, r: float) -> float:
        billable = max(0.0, self.quantity(r) - self.free)
        total, start = 0.0, 0.0
        for tier in self.price.tiers:
            end = math.inf if tier.up_to is None else tier.up_to
            total += max(0.0, min(billable, end) - start) * tier.value
            if billable <= end:
                break
            start = end
        return total

    def slope(self, r: float) -> float:
        """d cost / d r just after r."""
        if self.per_request == 0:
            return 0.0
        billable = self.quantity(r) - self.free
        if billable < 0:
            return 0.0
        for tier in self.price.tiers:
            if tier.up_to is None or billable < tier.up_to:
                return tier.value * self.per_request
        return 0.0  # pragma: no cover (the last tier has no end)

    def breakpoints(self) -> list[float]:
        """Traffic levels where the unit price changes (free tier used up, next tier)."""
        if self.per_request == 0:
            return []
        edges = [self.free] + [self.free + t.up_to for t in self.price.tiers if t.up_to]
        return [(q - self.base) / self.per_request for q in edges if q > self.base]

    def line(self, r: float) -> Line:
        return Line(self.name, self.cost(r), f"{self.quantity(r):,.0f} {self.unit}".strip())


@dataclass(frozen=True)
class Platform:
    name: str
    fixed: tuple[Line, ...]
    usages: tuple[Usage, ...]
    facts: dict[str, Any] = field(default_factory=dict)

    def cost(self, r: float) -> float:
        return sum(line.amount for line in self.fixed) + sum(u.cost(r) for u in self.usages)

    def slope(self, r: float) -> float:
        return sum(u.slope(r) for u in self.usages)

    def breakpoints(self) -> list[float]:
        return [b for u in self.usages for b in u.breakpoints()]

    def lines(self, r: float) -> list[Line]:
        return [*(u.line(r) for u in self.usages), *self.fixed]


def _count(n: float, noun: str) -> str:
    return f"{n:g} {noun}" if n == 1 else f"{n:g} {noun}s"


def _shared_lines(book: PriceBook) -> list[Line]:
    """The parts of the chosen topology both platforms keep: NAT, database, secrets, keys,
    alarms."""
    t, h = book.topology, book.hours_per_month
    nat = t["nat_gateways"]
    return [
        Line(
            "NAT gateway",
            nat * h * (book["nat_gateway_hour"].value + book["public_ipv4_hour"].value),
            f"{nat} x {h:.0f} h, with its public IPv4 address",
            shared=True,
        ),
        Line(
            "NAT data processed",
            t["nat_gb_per_month"] * book["nat_gateway_gb"].value,
            f"{t['nat_gb_per_month']} GB (probes, webhooks, SES, SNS, Secrets Manager)",
            shared=True,
        ),
        Line(
            "Aurora Serverless v2 compute",
            t["aurora_average_acu"] * h * book["aurora_acu_hour"].value,
            f"{t['aurora_average_acu']} ACU on average x {h:.0f} h",
            shared=True,
        ),
        Line(
            "Aurora storage",
            t["aurora_storage_gb"] * book["aurora_storage_gb_month"].value,
            f"{t['aurora_storage_gb']} GB",
            shared=True,
        ),
        Line(
            "Secrets Manager",
            t["secrets"] * book["secrets_manager_secret_month"].value,
            _count(t["secrets"], "secret"),
            shared=True,
        ),
        Line(
            "KMS keys",
            t.get("kms_keys", 0) * book["kms_key_month"].value,
            _count(t.get("kms_keys", 0), "key") + " (the faces gallery's master key)",
            shared=True,
        ),
        Line(
            "CloudWatch alarms",
            t["alarms"] * book["cloudwatch_alarm_month"].value,
            _count(t["alarms"], "alarm"),
            shared=True,
        ),
    ]


def lambda_platform(book: PriceBook, *, avg_ms: float, memory_mb: int) -> Platform:
    t = book.topology
    gb = memory_mb / 1024
    free = bool(t.get("lambda_free_tier", True))
    scheduled = float(t.get("scheduled_invocations_per_month", 0))
    scheduled_gb_s = scheduled * float(t.get("scheduled_avg_ms", 0)) / 1000 * gb
    usages = (
        Usage(
            "Lambda requests",
            book["lambda_request"],
            per_request=1.0,
            base=scheduled,
            free=book["lambda_free_requests"].value if free else 0.0,
            unit="invocations",
        ),
        Usage(
            "Lambda duration",
            book["lambda_gb_second"],
            per_request=avg_ms / 1000 * gb,
            base=scheduled_gb_s,
            free=book["lambda_free_gb_seconds"].value if free else 0.0,
            unit="GB-s",
        ),
        Usage("API Gateway (REST)", book["apigw_rest_request"], per_request=1.0, unit="calls"),
    )
    facts = {
        "avg_ms": avg_ms,
        "memory_mb": memory_mb,
        "scheduled_invocations": scheduled,
        "scheduled_avg_ms": float(t.get("scheduled_avg_ms", 0)),
    }
    return Platform("Lambda", tuple(_shared_lines(book)), usages, facts)


def nodes_needed(book: PriceBook) -> int:
    """Nodes for every pod's requests, packed first-fit by CPU, and never fewer than the
    minimum that spreads each module's 3 replicas one per node."""
    node = book.node
    cpu = node["allocatable_cpu_m"] - node["per_node_cpu_m"]
    memory = node["allocatable_memory_mi"] - node["per_node_memory_mi"]
    slots = node["max_pods"] - node["per_node_pods"]
    pods = sorted(
        ((p["cpu_m"], p["memory_mi"]) for p in book.pods for _ in range(int(p["count"]))),
        reverse=True,
    )
    free: list[list[float]] = []
    for pod_cpu, pod_memory in pods:
        if pod_cpu > cpu or pod_memory > memory:
            raise ValueError(f"a pod asking {pod_cpu}m / {pod_memory}Mi fits on no node")
        for room in free:
            if room[0] >= pod_cpu and room[1] >= pod_memory and room[2] >= 1:
                room[0] -= pod_cpu
                room[1] -= pod_memory
                room[2] -= 1
                break
        else:
            free.append([cpu - pod_cpu, memory - pod_memory, slots - 1])
    return max(int(book.topology.get("eks_min_nodes", 1)), len(free))


def eks_platform(book: PriceBook) -> Platform:
    t, h = book.topology, book.hours_per_month
    nodes = nodes_needed(book)
    node_type = t.get("eks_node_type", "node")
    ips = t.get("eks_alb_public_ips", 0)
    nat = t.get("eks_nat_gateways", 0)
    secrets = t.get("eks_secrets", 0)
    fixed = [
        Line("EKS control plane", h * book["eks_cluster_hour"].value, f"1 cluster x {h:.0f} h"),
        Line(
            "Worker nodes",
            nodes * h * book["ec2_node_hour"].value,
            f"{nodes} x {node_type} x {h:.0f} h",
        ),
        Line(
            "Node volumes",
            nodes * t["eks_node_volume_gb"] * book["ebs_gp3_gb_month"].value,
            f"{nodes} x {t['eks_node_volume_gb']} GB gp3",
        ),
        Line(
            "Cluster VPC NAT gateway",
            nat * h * (book["nat_gateway_hour"].value + book["public_ipv4_hour"].value),
            f"{nat} x {h:.0f} h, with its public IPv4 address (the cluster's own VPC)",
        ),
        Line(
            "External Secrets' secrets",
            secrets * book["secrets_manager_secret_month"].value,
            _count(secrets, "secret") + " (portal/production/<module>)",
        ),
        Line(
            "Application Load Balancer",
            h * (book["alb_hour"].value + ips * book["public_ipv4_hour"].value),
            f"1 ALB x {h:.0f} h, {ips} public IPv4 addresses",
        ),
        *_shared_lines(book),
    ]
    lcu = Usage(
        "Load balancer capacity (LCU)",
        book["alb_lcu_hour"],
        per_request=float(t.get("eks_new_connections_per_request", 1.0))
        / LCU_NEW_CONNECTIONS_PER_HOUR,
        unit="LCU-hours",
    )
    return Platform("EKS", tuple(fixed), (lcu,), {"nodes": nodes, "node_type": node_type})


def crossover(lam: Platform, eks: Platform) -> float | None:
    """The fewest requests a month at which EKS costs no more than Lambda; None if never.

    Both costs are linear between the breakpoints, so on each segment the gap
    Lambda - EKS = gap(a) + slope * (r - a) is solved for zero directly."""
    edges = sorted({0.0, *(b for b in lam.breakpoints() + eks.breakpoints() if b > 0)})
    for i, start in enumerate(edges):
        gap = lam.cost(start) - eks.cost(start)
        if gap >= 0:
            return start
        slope = lam.slope(start) - eks.slope(start)
        if slope <= 0:
            continue
        r = start - gap / slope
        end = edges[i + 1] if i + 1 < len(edges) else math.inf
        if r <= end:
            return r
    return None


@dataclass(frozen=True)
class Comparison:
    requests_per_month: float
    avg_ms: float
    memory_mb: int
    lam: Platform
    eks: Platform
    crossover: float | None

    @property
    def lambda_monthly(self) -> float:
        return self.lam.cost(self.requests_per_month)

    @property
    def eks_monthly(self) -> float:
        return self.eks.cost(self.requests_per_month)

    @property
    def cheaper(self) -> str:
        return "eks" if self.eks_monthly < self.lambda_monthly else "lambda"


def compare(
    book: PriceBook, *, requests_per_month: float, avg_ms: float, memory_mb: int
) -> Comparison:
    lam = lambda_platform(book, avg_ms=avg_ms, memory_mb=memory_mb)
    eks = eks_platform(book)
    return Comparison(requests_per_month, avg_ms, memory_mb, lam, eks, crossover(lam, eks))


def as_dict(c: Comparison, book: PriceBook) -> dict[str, Any]:
    """The stable shape `manage.py finops --json` prints."""

    def platform(p: Platform) -> dict[str, Any]:
        return {
            "monthly": round(p.cost(c.requests_per_month), 2),
            "lines": [
                {
                    "name": line.name,
                    "amount": round(line.amount, 2),
                    "detail": line.detail,
                    "shared": line.shared,
                }
                for line in p.lines(c.requests_per_month)
            ],
        }

    return {
        "inputs": {
            "requests_per_month": round(c.requests_per_month),
            "avg_ms": round(c.avg_ms, 1),
            "memory_mb": c.memory_mb,
        },
        "lambda": platform(c.lam),
        "eks": {**platform(c.eks), "nodes": c.eks.facts["nodes"]},
        "crossover_requests_per_month": None if c.crossover is None else round(c.crossover),
        "cheaper": c.cheaper,
        "prices": {
            "region": book.region,
            "checked": book.checked(),
            "sources": sorted({p.source for p in book.prices.values() if p.source}),
        },
    }
