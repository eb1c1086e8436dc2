"""`zappa deploy dev` and `zappa status dev` against moto's server on
loopback, the way .github/workflows/deploy.yml runs them: the role and the buckets exist first
(manage_roles: false), the face-model layer is published, the package built once is uploaded
to the deployments bucket and deployed from there.

`zappa update` is left out: after updating the code and the configuration it lists the
function's URL configs, an API moto 5.2 does not implement."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ops.serverless import models_layer
from tests.deploy.aws import MotoServer, zappa_on_moto
from tests.deploy.conftest import write_settings
from tests.deploy.lambda_build import (
    build_models_layer,
    build_package,
    stage_settings,
)

pytestmark = [pytest.mark.nodb, pytest.mark.slow]

STAGE = "dev"
FUNCTION = "portal-dev"
# The execution role's trust as ops/aws/iam.yaml writes it (its policy is tests/aws's subject;
# moto does not enforce one).
EXECUTION_ROLE_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "apigateway.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


@dataclass
class Deployment:
    moto: MotoServer
    settings_file: Path
    package_url: str
    layer_arn: str
    role_arn: str
    output: str

    def zappa(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = zappa_on_moto(self.moto.url, *args, "-s", str(self.settings_file))
        if check:
            assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
        return result


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("deploy")
    moto = MotoServer(root / "moto.log").start()
    try:
        settings = stage_settings(STAGE)
        iam = moto.client("iam")
        role = iam.create_role(
            RoleName=settings["role_name"], AssumeRolePolicyDocument=EXECUTION_ROLE_TRUST
        )["Role"]
        s3 = moto.client("s3")
        s3.create_bucket(Bucket=settings["s3_bucket"])
        layer_zip, _ = build_models_layer()
        layer_arn = models_layer.publish(layer_zip, stage=STAGE, client=moto.client("lambda"))
        package = build_package(STAGE)
        key = f"{FUNCTION}-{package.zip_path.stem}.zip"
        s3.upload_file(str(package.zip_path), settings["s3_bucket"], key)
        settings_file = write_settings(root / "zappa_settings.json", touch=False)
        models_layer.write_layer_arn(settings_file, STAGE, layer_arn)
        deployment = Deployment(
            moto,
            settings_file,
            f"s3://{settings['s3_bucket']}/{key}",
            layer_arn,
            role["Arn"],
            "",
        )
        deployment.output = deployment.zappa("deploy", STAGE, "-z", deployment.package_url).stdout
        yield deployment
    finally:
        moto.stop()


def test_deploys_the_function(deployment: Deployment) -> None:
    assert "Deployment complete" in deployment.output
    config = deployment.moto.client("lambda").get_function_configuration(FunctionName=FUNCTION)
    settings = stage_settings(STAGE)
    assert config["Runtime"] == "python3.12"
    assert config["Handler"] == "handler.lambda_handler"
    assert config["MemorySize"] == settings["memory_size"]
    assert config["Timeout"] == settings["timeout_seconds"]
    assert config["Role"] == deployment.role_arn
    assert [layer["Arn"] for layer in config["Layers"]] == [deployment.layer_arn]


def test_zappa_status_shows_the_function(deployment: Deployment) -> None:
    result = deployment.zappa("status", STAGE, "--json")
    status = json.loads(result.stdout[result.stdout.index("{") :])
    assert status["Lambda Name"] == FUNCTION
    assert status["Lambda Runtime"] == "python3.12"
    assert status["Lambda Handler"] == "handler.lambda_handler"
    assert status["Lambda Memory Size"] == stage_settings(STAGE)["memory_size"]


def test_schedules_the_monitors_the_sweep_and_the_daily_prune(deployment: Deployment) -> None:
    events = deployment.moto.client("events")
    rules = events.list_rules(NamePrefix=FUNCTION)["Rules"]
    schedules = {rule["Name"].rsplit("-", 1)[-1]: rule["ScheduleExpression"] for rule in rules}
    assert schedules == {
        "portal.lambda_tasks.run_monitors": "rate(1 minute)",
        "portal.lambda_tasks.sos_sweep": "rate(1 minute)",
        "portal.lambda_tasks.prune": "cron(17 3 * * ? *)",
    }  # and no keep-warm rule: the two schedules keep an instance warm already
    function_arn = deployment.moto.client("lambda").get_function(FunctionName=FUNCTION)[
        "Configuration"
    ]["FunctionArn"]
    for rule in rules:
        targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        assert [target["Arn"] for target in targets] == [function_arn]


def test_creates_the_rest_api_with_binary_support(deployment: Deployment) -> None:
    apigateway = deployment.moto.client("apigateway")
    apis = [api for api in apigateway.get_rest_apis()["items"] if api["name"] == FUNCTION]
    assert len(apis) == 1
    # Zappa adds */* with the patch path /binaryMediaTypes/*~1*; moto records that an entry was
    # added but keeps the (empty) patch value instead of decoding the path.
    assert apis[0].get("binaryMediaTypes")
    assert "execute-api" in deployment.output
