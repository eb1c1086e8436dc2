"""ops/aws templates: cfn-lint clean, the names other stacks and helpers rely on, and the
choices ops/README.md states (the database reachable only from the function, production's
protections, no public bucket, the reserved concurrency's arithmetic)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.aws.support import AWS_DIR, CFN_LINT, OWN_TEMPLATES, require_tool, template

pytestmark = pytest.mark.nodb

OUTPUTS = {  # the contract between the helpers: /work/aws-contract.md
    "network": {"VpcId", "PrivateSubnetIds", "LambdaSecurityGroupId", "DatabaseSecurityGroupId"},
    "storage": {
        f"{kind}Bucket{what}"
        for kind in ("Deployment", "Static", "Media", "RemoteEnv")
        for what in ("Name", "Arn")
    },
    "data": {"DatabaseEndpoint", "DatabasePort", "DatabaseSecretArn", "DatabaseMaxConnections"},
    "messaging": {"SesIdentityArn", "SesConfigurationSetName"},
    "operations": {"DeadLetterQueueArn", "AlarmTopicArn", "LogGroupName", "ReservedConcurrency"},
    # One repository per stage, in the one account-wide stack.
    "ecr": {
        f"{stage}Repository{what}" for stage in ("Dev", "Production") for what in ("Uri", "Arn")
    },
}


@pytest.fixture(scope="module")
def cfn_lint_findings() -> list[dict]:
    """cfn-lint over all our templates in one run (it takes seconds to start)."""
    tool = require_tool(CFN_LINT, "pip install -r requirements-dev.txt")
    paths = [str(AWS_DIR / f"{concern}.yaml") for concern in OWN_TEMPLATES]
    result = subprocess.run(
        [tool, "--format", "json", *paths], capture_output=True, text=True, timeout=300
    )
    assert not result.returncode & 1, result.stderr  # 1: cfn-lint itself failed; 2/4/8: findings
    return json.loads(result.stdout or "[]")


@pytest.mark.parametrize("concern", OWN_TEMPLATES)
def test_the_template_passes_cfn_lint(concern: str, cfn_lint_findings: list[dict]) -> None:
    found = [
        f"{f['Rule']['Id']} line {f['Location']['Start']['LineNumber']}: {f['Message']}"
        for f in cfn_lint_findings
        if f["Filename"].endswith(f"/{concern}.yaml")
    ]
    assert found == []


@pytest.mark.parametrize("concern", OWN_TEMPLATES)
def test_every_output_of_the_contract_is_exported_under_its_stage(concern: str) -> None:
    doc = template(concern)
    outputs = doc["Outputs"]
    assert OUTPUTS[concern] <= set(outputs)
    for name in OUTPUTS[concern]:
        export = outputs[name]["Export"]["Name"]
        if concern == "ecr":
            assert export == f"portal-ecr-{name}"
        else:
            assert export == {"Fn::Sub": f"portal-${{Stage}}-{name}"}
    if concern != "ecr":
        assert doc["Parameters"]["Stage"]["AllowedValues"] == ["dev", "production"]


def test_the_database_answers_only_the_function_on_5432() -> None:
    resources = template("network")["Resources"]
    rules = [r["Properties"] for r in resources.values() if r["Type"].endswith("Ingress")]
    assert rules == [
        {
            "Description": "PostgreSQL from the Portal function",
            "GroupId": {"Ref": "DatabaseSecurityGroup"},
            "IpProtocol": "tcp",
            "FromPort": 5432,
            "ToPort": 5432,
            "SourceSecurityGroupId": {"Ref": "LambdaSecurityGroup"},
        }
    ]
    assert "SecurityGroupIngress" not in resources["LambdaSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in resources["DatabaseSecurityGroup"]["Properties"]
    nats = [r for r in resources.values() if r["Type"] == "AWS::EC2::NatGateway"]
    assert [n.get("Condition") for n in nats] == [None, "NatPerZone"]  # one unless asked


def test_production_keeps_its_database_and_dev_can_be_deleted() -> None:
    cluster = template("data")["Resources"]["Cluster"]
    props = cluster["Properties"]
    assert props["ServerlessV2ScalingConfiguration"]["MinCapacity"] == 0  # pauses when idle
    assert props["StorageEncrypted"] is True
    assert props["ManageMasterUserPassword"] is True
    assert "MasterUserPassword" not in props
    assert props["DeletionProtection"] == {"Fn::If": ["IsProduction", True, False]}
    assert cluster["DeletionPolicy"] == {"Fn::If": ["IsProduction", "Snapshot", "Delete"]}
    assert props["BackupRetentionPeriod"] == {"Fn::If": ["IsProduction", 14, 7]}


def test_no_bucket_is_public_and_every_bucket_requires_tls() -> None:
    resources = template("storage")["Resources"]
    buckets = {n for n, r in resources.items() if r["Type"] == "AWS::S3::Bucket"}
    assert len(buckets) == 4
    for name in buckets:
        block = resources[name]["Properties"]["PublicAccessBlockConfiguration"]
        assert all(block.values()), name
    policies = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::S3::BucketPolicy"]
    assert {p["Bucket"]["Ref"] for p in policies} == buckets
    for policy in policies:
        (tls,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Sid"] == "TlsOnly"]
        assert tls["Effect"] == "Deny"
        assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    for name in ("MediaBucket", "RemoteEnvBucket"):  # where data lives
        assert resources[name]["Properties"]["VersioningConfiguration"]["Status"] == "Enabled"


def test_reserved_concurrency_leaves_fifteen_connections_for_people_and_superusers() -> None:
    connections = template("data")["Mappings"]["Connections"]
    concurrency = template("operations")["Mappings"]["Concurrency"]
    allowed = template("operations")["Parameters"]["DatabaseMaxConnections"]["AllowedValues"]
    assert sorted(str(c["Max"]) for c in connections.values()) == sorted(allowed)
    for entry in connections.values():
        assert concurrency[str(entry["Max"])]["Reserved"] == entry["Max"] - 15
