"""The FinOps price book counts the parts of the topology these templates create: a NAT
gateway, a secret or an alarm added to a stack must show up in what the Infrastructure page
and ops/README.md say the deployment costs at rest."""

from __future__ import annotations

import json

import pytest

from tests.aws.support import template
from tests.deploy.lambda_build import REPO

pytestmark = pytest.mark.nodb

TOPOLOGY = json.loads((REPO / "portal" / "finops" / "prices.json").read_text())["topology"]


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


def test_the_price_book_runs_as_many_nat_gateways_as_the_network_stack_defaults_to():
    assert template("network")["Parameters"]["NatGateways"]["Default"] == TOPOLOGY["nat_gateways"]
