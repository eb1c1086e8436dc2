"""The FinOps price book counts the parts of the topology these templates create: a NAT
gateway, a secret or an alarm added to a stack must show up in what the Infrastructure page
and ops/README.md say the deployment costs at rest."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.aws.support import template
from tests.deploy.lambda_build import REPO

pytestmark = pytest.mark.nodb

TOPOLOGY = json.loads((REPO / "portal" / "finops" / "prices.json").read_text())["topology"]
CLUSTER = yaml.safe_load((REPO / "ops" / "kubernetes_orchestration" / "cluster.yaml").read_text())
# eksctl's vpc.nat.gateway: one NAT gateway, one per availability zone, or none.
NAT_GATEWAYS = {"Single": 1, "HighlyAvailable": len(CLUSTER["availabilityZones"]), "Disable": 0}


def resources_of(concern: str, kind: str) -> list[str]:
    resources = template(concern)["Resources"]
    return [name for name, body in resources.items() if body["Type"] == kind]


def test_the_price_book_counts_every_alarm_the_operations_stack_creates():
    assert len(resources_of("operations", "AWS::CloudWatch::Alarm")) == TOPOLOGY["alarms"]


def test_the_price_book_counts_the_secrets_the_stacks_keep():
    clusters = template("data")["Resources"]
    managed = [
        name
        for name, body in clusters.items()
        if body["Type"] == "AWS::RDS::DBCluster"
        and body["Properties"].get("ManageMasterUserPassword") is True
    ]
    created = sum(
        len(resources_of(concern, "AWS::SecretsManager::Secret"))
        for concern in ("network", "storage", "data", "messaging", "operations")
    )
    assert len(managed) + created == TOPOLOGY["secrets"]


def test_the_price_book_counts_the_customer_managed_keys_the_stacks_create():
    created = sum(
        len(resources_of(concern, "AWS::KMS::Key"))
        for concern in ("network", "storage", "data", "messaging", "operations")
    )
    assert created == TOPOLOGY["kms_keys"]


def test_the_price_book_runs_as_many_nat_gateways_as_the_network_stack_defaults_to():
    assert template("network")["Parameters"]["NatGateways"]["Default"] == TOPOLOGY["nat_gateways"]


def node_groups() -> list[dict]:
    return [*CLUSTER.get("managedNodeGroups", []), *CLUSTER.get("nodeGroups", [])]


def test_the_price_book_prices_the_node_type_and_volumes_the_cluster_creates():
    groups = node_groups()
    assert groups, "cluster.yaml has no node group"
    assert {g["instanceType"] for g in groups} == {TOPOLOGY["eks_node_type"]}
    assert {g.get("volumeSize", 80) for g in groups} == {TOPOLOGY["eks_node_volume_gb"]}
    assert sum(g["minSize"] for g in groups) == TOPOLOGY["eks_min_nodes"]


def test_the_price_book_runs_as_many_nat_gateways_as_the_clusters_vpc():
    gateway = CLUSTER.get("vpc", {}).get("nat", {}).get("gateway", "Single")  # eksctl's default
    assert NAT_GATEWAYS[gateway] == TOPOLOGY["eks_nat_gateways"]
