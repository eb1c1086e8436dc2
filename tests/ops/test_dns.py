"""ops/aws/dns.yaml, the weighted Route 53 records the migration runbook moves a module's traffic
with: linted, and created and re-weighted on moto's CloudFormation and Route 53."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.aws.support import AWS_DIR, CFN_LINT, require_tool
from tests.deploy.aws import MotoServer

pytestmark = pytest.mark.nodb

TEMPLATE = AWS_DIR / "dns.yaml"


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("dns") / "moto.log").start()
    yield server
    server.stop()


def test_the_dns_template_passes_cfn_lint() -> None:
    tool = require_tool(CFN_LINT, "pip install -r requirements-dev.txt")
    done = subprocess.run([tool, str(TEMPLATE)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def _weights(route53: Any, zone: str, host: str) -> dict[str, tuple[int, str]]:
    records = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return {
        r["SetIdentifier"]: (r["Weight"], r["AliasTarget"]["DNSName"])
        for r in records
        if r["Name"] == host and r["Type"] == "A"
    }


def test_the_records_split_a_host_name_between_lambda_and_eks(moto: MotoServer) -> None:
    route53, cloudformation = moto.client("route53"), moto.client("cloudformation")
    zone = route53.create_hosted_zone(Name="portal.example.com.", CallerReference="dns-test")
    zone_id = zone["HostedZone"]["Id"].rsplit("/", 1)[-1]
    body = Path(TEMPLATE).read_text()

    def create(module: str, eks: int, lam: int) -> dict[str, tuple[int, str]]:
        values = {
            "Stage": "production",
            "Module": module,
            "HostedZoneId": zone_id,
            "HostName": f"{module}.portal.example.com.",
            "LambdaTargetDomain": "d-abc123.execute-api.us-east-1.amazonaws.com",
            "LambdaTargetZoneId": "Z1UJRXOUMOOFQ8",
            "EksTargetDomain": "k8s-portal-0123456789.us-east-1.elb.amazonaws.com",
            "EksTargetZoneId": "Z35SXDOTRQ7X7K",
            "EksWeight": str(eks),
            "LambdaWeight": str(lam),
        }
        cloudformation.create_stack(
            StackName=f"portal-production-dns-{module}",
            TemplateBody=body,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
        )
        return _weights(route53, zone_id, f"{module}.portal.example.com.")

    # A step of the switch: one name, two weighted aliases.
    weights = create("netprobe", 10, 90)
    assert weights == {
        "portal-production-netprobe-lambda": (90, "d-abc123.execute-api.us-east-1.amazonaws.com"),
        "portal-production-netprobe-eks": (10, "k8s-portal-0123456789.us-east-1.elb.amazonaws.com"),
    }
    # The start and the rollback: EKS at weight 0 (moto re-creates no RecordSetGroup on a
    # stack update, so each state is created here).
    weights = create("sos", 0, 100)
    assert weights["portal-production-sos-eks"][0] == 0
    assert weights["portal-production-sos-lambda"][0] == 100
