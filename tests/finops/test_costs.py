"""The FinOps arithmetic against AWS's own published pricing examples, and the crossover."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from django.core.exceptions import ImproperlyConfigured

from portal.finops import costs, prices
from portal.settings import envjsonfile

pytestmark = pytest.mark.nodb

ROOT = Path(__file__).resolve().parents[2]
NO_EXTRAS = {"topology": {"scheduled_invocations_per_month": 0}}


def lines(platform: costs.Platform, r: float) -> dict[str, float]:
    return {line.name: line.amount for line in platform.lines(r)}


def test_lambda_matches_example_1_of_the_aws_lambda_pricing_page():
    # https://aws.amazon.com/lambda/pricing/ (US East (N. Virginia)), Example 1:
    #   "If you allocated 512MB of memory to your function, executed it 3 million times in one
    #   month, and it ran for 1 second each time [...] The monthly compute price is $0.00001667
    #   per GB-s and the free tier provides 400,000 GB-s. [...] 1,500,000 GB-s - 400,000 free
    #   tier GB-s = 1,100,000 GB-s. Monthly compute charges = 1,100,000 * $0.00001667 = $18.34
    #   [...] 3M requests - 1M free tier requests = 2M Monthly billable requests. Monthly request
    #   charges = 2M * $0.2/M = $0.40 [...] Total charges = $18.34 + $0.40 = $18.74 per month"
    book = prices.load_prices(overrides={**NO_EXTRAS, "lambda_gb_second": 0.00001667})
    lam = costs.lambda_platform(book, avg_ms=1000, memory_mb=512)
    charges = lines(lam, 3_000_000)
    assert round(charges["Lambda duration"], 2) == 18.34
    assert round(charges["Lambda requests"], 2) == 0.40
    assert round(charges["Lambda duration"] + charges["Lambda requests"], 2) == 18.74


def test_lambda_duration_tiers_follow_the_published_x86_tiers():
    # https://aws.amazon.com/lambda/pricing/, x86: "First 6 Billion GB-seconds / month
    # $0.0000166667", "Next 9 Billion GB-seconds / month $0.000015", "Over 15 Billion
    # GB-seconds / month $0.0000133334".
    topology = {"lambda_free_tier": False, "scheduled_invocations_per_month": 0}
    book = prices.load_prices(overrides={"topology": topology})
    lam = costs.lambda_platform(book, avg_ms=1000, memory_mb=1024)  # 1 GB-s a request
    duration = next(u for u in lam.usages if u.name == "Lambda duration")
    assert duration.cost(6e9) == pytest.approx(6e9 * 0.0000166667)
    assert duration.cost(16e9) == pytest.approx(
        6e9 * 0.0000166667 + 9e9 * 0.000015 + 1e9 * 0.0000133334
    )


def test_api_gateway_tiers_match_the_aws_http_api_example():
    # https://aws.amazon.com/api-gateway/pricing/, HTTP API example (us-east-1): the first
    # 300 million requests at "$1.00/million" and the rest at "132 million * $0.90/million",
    # that is 432 million requests for $300 + $118.80 = $418.80. The same tier engine prices REST.
    book = prices.load_prices(
        overrides={
            "apigw_rest_request": [
                {"up_to": 300e6, "value": 1.00e-6},
                {"up_to": None, "value": 0.90e-6},
            ]
        }
    )
    lam = costs.lambda_platform(book, avg_ms=100, memory_mb=128)
    assert round(lines(lam, 432e6)["API Gateway (REST)"], 2) == 418.80


def test_api_gateway_rest_prices_are_the_published_tiers():
    # docs.aws.amazon.com/whitepapers/latest/best-practices-api-gateway-private-apis-integration/
    # cost-optimization.html, Table 4, REST: "First 333 million requests (per month): $3.50 (per
    # million)", "Next 667 million requests (per month): $2.80 (per million)", "Next 19 billion
    # requests (per month): $2.38", "Over 20 billion requests (per month): $1.51".
    lam = costs.lambda_platform(prices.load_prices(), avg_ms=100, memory_mb=128)
    assert round(lines(lam, 333e6)["API Gateway (REST)"], 2) == 1165.50
    assert round(lines(lam, 1e9)["API Gateway (REST)"], 2) == 1165.50 + 1867.60
    assert round(lines(lam, 21e9)["API Gateway (REST)"], 2) == round(
        1165.50 + 1867.60 + 19_000 * 2.38 + 1_000 * 1.51, 2
    )


def lambda_of(book: prices.PriceBook) -> costs.Platform:
    return costs.lambda_platform(book, avg_ms=300, memory_mb=2048)


def test_the_eks_control_plane_costs_what_aws_charges_per_cluster_hour():
    # https://aws.amazon.com/eks/pricing/: "You pay $0.10 per hour for each Amazon EKS cluster"
    # (Kubernetes version in standard support); 730 hours a month make $73.00.
    eks = costs.eks_platform(prices.load_prices())
    assert lines(eks, 0)["EKS control plane"] == pytest.approx(73.00)


def test_eks_runs_three_nodes_for_three_replicas_of_each_module():
    book = prices.load_prices()
    eks = costs.eks_platform(book)
    assert eks.facts["nodes"] == 3
    assert lines(eks, 0)["Worker nodes"] == pytest.approx(3 * 0.096 * 730)


def test_eks_pays_for_its_own_vpcs_nat_gateway_and_the_modules_secrets():
    book = prices.load_prices()
    eks, lam = lines(costs.eks_platform(book), 0), lines(lambda_of(book), 0)
    assert eks["Cluster VPC NAT gateway"] == pytest.approx(730 * (0.045 + 0.005))
    assert eks["External Secrets' secrets"] == pytest.approx(3 * 0.40)
    assert eks["Node volumes"] == pytest.approx(3 * 50 * 0.08)
    assert "Cluster VPC NAT gateway" not in lam
    assert "External Secrets' secrets" not in lam


def test_the_secrets_priced_on_eks_are_the_ones_the_module_releases_read():
    keys = {
        yaml.safe_load((ROOT / f"ops/helm_charts/portal/values-{label}.yaml").read_text())[
            "secret"
        ]["externalSecrets"]["remoteKey"]
        for label in ("netprobe", "sos", "faces")
    }
    assert len(keys) == prices.load_prices().topology["eks_secrets"]


def test_more_pods_than_three_nodes_hold_take_more_nodes():
    book = prices.load_prices(
        overrides={"pods": [{"name": "big", "count": 10, "cpu_m": 850, "memory_mi": 512}]}
    )
    assert costs.nodes_needed(book) == 5  # 2 a node: 1780m of CPU left after the DaemonSets


def test_the_pods_priced_are_the_charts_module_defaults():
    values = yaml.safe_load((ROOT / "ops/helm_charts/portal/values.yaml").read_text())
    priced = {p["name"]: p for p in prices.load_prices().pods}
    for label in ("netprobe", "sos", "faces"):
        requests = values["moduleDefaults"][label]["resources"]["requests"]
        pod = priced[f"{label} web"]
        assert pod["count"] == values["replicaCount"] == 3
        assert f"{pod['cpu_m']}m" == requests["cpu"]
        assert f"{pod['memory_mi']}Mi" == requests["memory"].replace("1Gi", "1024Mi")
    worker = values["worker"]["resources"]["requests"]
    assert f"{priced['sos worker']['cpu_m']}m" == worker["cpu"]


def test_at_the_crossover_both_platforms_cost_the_same():
    c = costs.compare(prices.load_prices(), requests_per_month=1e6, avg_ms=200, memory_mb=2048)
    assert c.crossover is not None
    assert c.lam.cost(c.crossover) == pytest.approx(c.eks.cost(c.crossover), abs=0.01)
    assert c.lam.cost(c.crossover * 0.9) < c.eks.cost(c.crossover * 0.9)
    assert c.lam.cost(c.crossover * 1.1) > c.eks.cost(c.crossover * 1.1)
    assert c.cheaper == "lambda"


def test_the_closed_form_crossover_agrees_with_a_search_across_tiers():
    # A bigger cluster moves the crossover past API Gateway's first tier (333 million calls).
    book = prices.load_prices(overrides={"ec2_node_hour": 2.0})
    lam = costs.lambda_platform(book, avg_ms=50, memory_mb=512)
    eks = costs.eks_platform(book)
    found = costs.crossover(lam, eks)
    low, high = 0.0, 1e12
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if lam.cost(middle) < eks.cost(middle) else (low, middle)
    assert found is not None
    assert found > 333e6
    assert found == pytest.approx(high, rel=1e-9)


def test_eks_is_never_cheaper_when_lambda_costs_nothing_per_request():
    free = {
        name: 0
        for name in ("lambda_request", "lambda_gb_second", "apigw_rest_request", "alb_lcu_hour")
    }
    book = prices.load_prices(overrides=free)
    lam = costs.lambda_platform(book, avg_ms=200, memory_mb=2048)
    assert costs.crossover(lam, costs.eks_platform(book)) is None


def test_shared_parts_of_the_topology_appear_on_both_sides():
    c = costs.compare(prices.load_prices(), requests_per_month=0, avg_ms=200, memory_mb=2048)
    shared = {line.name for line in c.lam.lines(0) if line.shared}
    assert shared == {line.name for line in c.eks.lines(0) if line.shared}
    assert {"NAT gateway", "Aurora Serverless v2 compute"} <= shared


def test_every_price_names_its_source_and_when_it_was_checked():
    data = json.loads(prices.PRICES_FILE.read_text())
    for name, price in data["prices"].items():
        assert price["source"].startswith("https://aws.amazon.com/"), name
        assert len(price["checked"]) == 10, name


def test_an_override_replaces_a_price_and_an_unknown_one_is_refused():
    book = prices.load_prices(overrides={"ec2_node_hour": 0.1008})
    assert book["ec2_node_hour"].value == 0.1008
    with pytest.raises(ValueError, match="unknown price 'ec2_nodes_hour'"):
        prices.load_prices(overrides={"ec2_nodes_hour": 0.1})


def test_the_prices_setting_names_a_json_file(tmp_path, monkeypatch):
    good = tmp_path / "prices.json"
    good.write_text('{"eks_cluster_hour": 0.6}')
    monkeypatch.setenv("FINOPS_PRICES", str(good))
    assert envjsonfile("FINOPS_PRICES") == {"eks_cluster_hour": 0.6}
    monkeypatch.setenv("FINOPS_PRICES", str(tmp_path / "missing.json"))
    with pytest.raises(ImproperlyConfigured, match="FINOPS_PRICES"):
        envjsonfile("FINOPS_PRICES")


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (costs.parse_requests, "-1", "must be 0 or more"),
        (costs.parse_requests, "many", "must be a number"),
        (costs.parse_avg_ms, "0", "must be more than 0"),
        (costs.parse_avg_ms, "nan", "finite"),
        (costs.parse_memory_mb, "64", "from 128 to 10240"),
        (costs.parse_memory_mb, "1536.5", "whole number"),
    ],
)
def test_a_figure_that_cannot_be_priced_says_why(parse, text, message):
    with pytest.raises(costs.FigureError, match=message):
        parse(text)
