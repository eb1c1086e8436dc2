"""`zappa deploy` of a vantage stage on moto's server beside the roles of
ops/aws/vantages-iam.yaml, as the workflow's `vantages` job runs it (the region's bucket made
first, the package uploaded to it): the function runs as the vantage execution role, and the
names the deploy role's statements rely on (function, stack, ZappaProject tag, bucket, region)
are the ones Zappa really uses. moto does not evaluate IAM: test_vantages_iam.py checks what the
roles grant, this checks that it is what a deploy touches."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from ops import vantages
from tests.aws.test_vantages_iam import DEPLOY, REGIONS, create_stack
from tests.deploy.aws import CREDENTIALS, MotoServer
from tests.deploy.lambda_build import REPO, ZAPPA, offline_env, stage_settings

pytestmark = [pytest.mark.nodb, pytest.mark.slow]


def client(moto: MotoServer, service: str, region: str) -> Any:
    import boto3

    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
    ).client(service, endpoint_url=moto.url)


def stand_in_package() -> bytes:
    """moto never runs the function (touch is off): any zip stands in for the 60 MiB one."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return {}\n")
    return buffer.getvalue()


def test_zappa_deploys_a_vantage_as_its_role_under_the_names_the_deploy_role_allows(
    tmp_path: Path,
) -> None:
    region = REGIONS[0]
    stage = vantages.stage_name(region)
    settings_path = tmp_path / "zappa_settings.json"
    raw = json.loads((REPO / "zappa_settings.json").read_text())
    raw[stage]["touch"] = False  # nothing answers the API's URL on moto
    settings_path.write_text(json.dumps(raw, indent=4))
    bucket = stage_settings(stage)["s3_bucket"]
    key = f"portal-{stage}-0a1b2c.zip"

    moto = MotoServer(tmp_path / "moto.log").start()
    try:
        roles = create_stack(moto)
        s3 = client(moto, "s3", region)
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        s3.put_object(Bucket=bucket, Key=key, Body=stand_in_package())
        package = f"s3://{bucket}/{key}"
        # The job's environment: AWS_REGION is the matrix's region.
        result = subprocess.run(
            [str(ZAPPA), "deploy", stage, "-z", package, "-s", str(settings_path)],
            cwd=tmp_path,  # Zappa writes its CloudFormation template into the working directory
            env=offline_env(
                AWS_ENDPOINT_URL=moto.url,
                **{**CREDENTIALS, "AWS_REGION": region, "AWS_DEFAULT_REGION": region},
            ),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
        assert "Deployment complete" in result.stdout

        config = client(moto, "lambda", region).get_function_configuration(
            FunctionName=f"portal-{stage}"
        )
        cloudformation = client(moto, "cloudformation", region)
        (api_stack,) = cloudformation.describe_stacks(StackName=f"portal-{stage}")["Stacks"]
    finally:
        moto.stop()

    assert config["Role"] == roles.outputs["VantageExecutionRoleArn"]["value"]
    assert config["MemorySize"] == 1769
    assert f":{region}:" in config["FunctionArn"]
    deploy = roles.roles[DEPLOY]
    needed = [
        ("s3:CreateBucket", f"arn:aws:s3:::{bucket}"),
        ("s3:PutObject", f"arn:aws:s3:::{bucket}/{key}"),
        ("lambda:CreateFunction", config["FunctionArn"]),
        ("lambda:UpdateFunctionCode", config["FunctionArn"]),
        ("iam:PassRole", config["Role"]),
        ("cloudformation:CreateStack", api_stack["StackId"]),
        ("cloudformation:UpdateStack", api_stack["StackId"]),
        (
            "logs:CreateLogGroup",
            f"arn:aws:logs:{region}:{config['FunctionArn'].split(':')[4]}:log-group:"
            f"/aws/lambda/{config['FunctionName']}",
        ),
    ]
    assert [need for need in needed if not deploy.allows(*need, region)] == []
    # The tag the REST API gets from Zappa's stack is one the deploy role may create and change.
    tags = {tag["Key"]: tag["Value"] for tag in api_stack["Tags"]}
    for statement in deploy.allowed():
        for condition, value in statement.get("Condition", {}).get("StringEquals", {}).items():
            if condition.endswith("Tag/ZappaProject"):
                assert tags["ZappaProject"] in value, statement["Sid"]
