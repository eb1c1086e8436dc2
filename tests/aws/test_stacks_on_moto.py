"""Every stack of ops/aws/stacks.yaml created on moto's server for both stages by
ops/aws/deploy.py, in order, with its outputs; `make aws-settings` (ops/aws/settings.py) writing
those outputs into a copy of zappa_settings.json, and refusing, with exit status 2 and the file
untouched, when a stage, a stack, an output or the layer is missing; then `zappa deploy` of the
dev stage from those settings, and the API throttling ops/aws/throttle.py applies after it."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ops.aws import settings as aws_settings
from ops.aws.deploy import deploy
from ops.aws.stacks import STAGES, load_template, plan
from ops.aws.throttle import throttle
from tests.aws.moto_templates import for_moto, unsupported_resources
from tests.aws.support import ACCOUNT
from tests.deploy.aws import CREDENTIALS, MotoServer, zappa_on_moto
from tests.deploy.lambda_build import REPO, build_package

# Creating both stages' stacks on the server takes about 20 s.
pytestmark = [pytest.mark.nodb, pytest.mark.slow]

REGION = "us-east-1"
# What moto 5.2's CloudFormation leaves out (tests/aws/moto_templates.py): the rest of each
# stack is created for real on the server. A moto upgrade that models more fails here first.
LEFT_OUT_ON_MOTO = {
    "ecr": set(),
    "github-oidc": {"GitHubOidcProvider"},
    "network": set(),
    "storage": {
        "DeploymentBucketPolicy",
        "StaticBucketPolicy",
        "MediaBucketPolicy",
        "RemoteEnvBucketPolicy",
        "StaticOriginAccess",
        "StaticDistribution",
    },
    "data": {"Cluster", "Writer"},
    "messaging": {"ConfigurationSet", "EmailIdentity"},
    "operations": {
        "DeadLetterQueuePolicy",
        "AlarmTopicPolicy",
        "AlarmEmailSubscription",
        "SosDeliveryFailures",
        "ErrorsAlarm",
        "ThrottlesAlarm",
        "DurationAlarm",
        "DeadLettersAlarm",
        "SosFailuresAlarm",
    },
    "iam": set(),
    "vantages-iam": set(),  # production only (the NetProbe vantage stages' roles)
}


@dataclass
class Account:
    moto: MotoServer
    outputs: dict[str, dict[str, dict[str, str]]]  # stage -> concern -> outputs
    log: list[str]
    layer_arn: str
    production_layer_arn: str = ""

    def env(self, region: str = REGION) -> dict[str, str]:
        return {
            "PATH": "/usr/bin:/bin",
            **CREDENTIALS,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "AWS_ENDPOINT_URL": self.moto.url,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }

    def client(self, service: str, region: str = REGION) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
        ).client(service, endpoint_url=self.moto.url)


def publish_layer(client: Any, stage: str) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("python/face_recognition_models/models/README", "stand-in")
    return client.publish_layer_version(
        LayerName=aws_settings.LAYER_NAME.format(stage=stage),
        Content={"ZipFile": buffer.getvalue()},
        CompatibleRuntimes=["python3.12"],
    )["LayerVersionArn"]


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    moto = MotoServer(tmp_path_factory.mktemp("aws-stacks") / "moto.log").start()
    try:
        log: list[str] = []
        result = Account(moto, {}, log, "")
        for stage in STAGES:
            result.outputs[stage] = deploy(
                stage,
                cloudformation=result.client("cloudformation"),
                sns=result.client("sns"),
                render=for_moto,
                log=log.append,
            )
        publish_layer(result.client("lambda"), "dev")
        result.layer_arn = publish_layer(result.client("lambda"), "dev")  # dev's newest: 2
        for _ in range(3):  # production's layer is another one, with newer versions
            result.production_layer_arn = publish_layer(result.client("lambda"), "production")
        yield result
    finally:
        moto.stop()


def settings_copy(tmp_path: Path) -> Path:
    path = tmp_path / "zappa_settings.json"
    shutil.copy(REPO / "zappa_settings.json", path)
    return path


def run_settings(account: Account, *args: str, region: str = REGION) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ops.aws.settings", *args],
        cwd=REPO,
        env=account.env(region),
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- the stacks --------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_every_stack_is_created_in_order_with_all_its_outputs(account: Account, stage: str) -> None:
    cloudformation = account.client("cloudformation")
    stacks = plan(stage)
    expected = [c for c in LEFT_OUT_ON_MOTO if c != "vantages-iam" or stage == "production"]
    assert [s.concern for s in stacks] == expected  # the IAM stacks last: they import the rest
    for stack in stacks:
        (described,) = cloudformation.describe_stacks(StackName=stack.name)["Stacks"]
        # Account-wide stacks were updated by the second stage's run.
        assert described["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), stack.name
        # Outputs under a Condition (the image stage's log group) are production's only.
        declared = {
            name
            for name, output in load_template(stack.template).get("Outputs", {}).items()
            if "Condition" not in output or stage == "production"
        }
        outputs = account.outputs[stage][stack.concern]
        assert set(outputs) == declared, stack.name
        assert all(outputs.values()), stack.name
    assert f"portal-{stage}-iam: created" in account.log


@pytest.mark.parametrize("stage", STAGES)
def test_the_stages_get_their_own_resources(account: Account, stage: str) -> None:
    outputs = account.outputs[stage]
    other = account.outputs["production" if stage == "dev" else "dev"]
    assert outputs["storage"]["MediaBucketName"] == f"portal-media-{stage}"
    assert outputs["operations"]["LogGroupName"] == f"/aws/lambda/portal-{stage}"
    image_log_group = {"dev": None, "production": "/aws/lambda/portal-production-image"}[stage]
    assert outputs["operations"].get("ImageLogGroupName") == image_log_group
    assert outputs["iam"]["ExecutionRoleName"] == f"portal-lambda-{stage}"
    assert outputs["network"]["VpcId"] != other["network"]["VpcId"]
    assert outputs["ecr"] == other["ecr"]  # account-wide, made once
    assert outputs["ecr"][f"{stage.capitalize()}RepositoryUri"].endswith(f"/portal-{stage}")
    # The reserved concurrency follows from the database's size (operations.yaml's mapping).
    expected = {"dev": ("189", "174"), "production": ("823", "808")}[stage]
    assert (
        outputs["data"]["DatabaseMaxConnections"],
        outputs["operations"]["ReservedConcurrency"],
    ) == expected


def test_moto_leaves_out_only_the_resources_it_does_not_model(account: Account) -> None:
    for stack in plan("production"):  # dev's templates and the vantages' roles
        left_out = set(unsupported_resources(load_template(stack.template)))
        assert left_out == LEFT_OUT_ON_MOTO[stack.concern], stack.concern


def test_the_network_exists_as_the_template_says(account: Account) -> None:
    ec2 = account.client("ec2")
    network = account.outputs["dev"]["network"]
    vpc = [{"Name": "vpc-id", "Values": [network["VpcId"]]}]
    assert len(ec2.describe_nat_gateways(Filters=vpc)["NatGateways"]) == 1
    (endpoint,) = ec2.describe_vpc_endpoints(Filters=vpc)["VpcEndpoints"]
    assert endpoint["ServiceName"] == f"com.amazonaws.{REGION}.s3"
    (database,) = ec2.describe_security_groups(GroupIds=[network["DatabaseSecurityGroupId"]])[
        "SecurityGroups"
    ]
    assert [
        (rule["FromPort"], rule["ToPort"], [p["GroupId"] for p in rule["UserIdGroupPairs"]])
        for rule in database["IpPermissions"]
    ] == [(5432, 5432, [network["LambdaSecurityGroupId"]])]
    subnets = ec2.describe_subnets(SubnetIds=network["PrivateSubnetIds"].split(","))["Subnets"]
    assert len({subnet["AvailabilityZone"] for subnet in subnets}) == 2


def test_the_sms_preferences_are_applied_to_the_account(account: Account) -> None:
    attributes = account.client("sns").get_sms_attributes()["attributes"]
    assert attributes["DefaultSMSType"] == "Transactional"
    assert attributes["MonthlySpendLimit"] == "1"


def test_a_second_deploy_of_a_stage_succeeds_on_the_existing_stacks(account: Account) -> None:
    log: list[str] = []
    outputs = deploy(
        "dev",
        cloudformation=account.client("cloudformation"),
        sns=account.client("sns"),
        render=for_moto,
        log=log.append,
    )
    assert outputs["storage"] == account.outputs["dev"]["storage"]
    assert not any(line.endswith(": created") for line in log), log


# --- make aws-settings -------------------------------------------------------------------------


def test_aws_settings_writes_the_dev_stage_from_the_stack_outputs(
    account: Account, tmp_path: Path
) -> None:
    path = settings_copy(tmp_path)
    before = json.loads(path.read_text())
    result = run_settings(account, "--stage", "dev", "--settings", str(path))
    assert result.returncode == 0, result.stderr
    after = json.loads(path.read_text())
    dev, out = after["dev"], account.outputs["dev"]
    assert dev["vpc_config"] == {
        "SubnetIds": out["network"]["PrivateSubnetIds"].split(","),
        "SecurityGroupIds": [out["network"]["LambdaSecurityGroupId"]],
    }
    assert len(dev["vpc_config"]["SubnetIds"]) == 2
    assert dev["role_name"] == "portal-lambda-dev"
    assert dev["role_arn"] == f"arn:aws:iam::{ACCOUNT}:role/portal-lambda-dev"
    assert dev["s3_bucket"] == "portal-zappa-deployments-dev"
    assert dev["remote_env"] == "s3://portal-secrets-dev/portal-dev.json"
    assert dev["dead_letter_arn"] == out["operations"]["DeadLetterQueueArn"]
    assert dev["lambda_concurrency"] == 174
    assert dev["layers"] == [account.layer_arn]
    assert account.layer_arn.endswith(":layer:portal-face-models-dev:2")
    env = dev["environment_variables"]
    assert env["AWS_STORAGE_BUCKET_NAME"] == "portal-static-dev"
    assert env["AWS_MEDIA_BUCKET_NAME"] == "portal-media-dev"
    assert env["AWS_S3_CUSTOM_DOMAIN"] == out["storage"]["StaticDomainName"]
    # The faces gallery's master key: the stage's own KMS key, rotated, by its ARN.
    assert env["FACES_KMS_KEY_ID"] == out["data"]["FacesKeyArn"]
    kms = account.client("kms")
    assert kms.get_key_rotation_status(KeyId=env["FACES_KMS_KEY_ID"])["KeyRotationEnabled"]
    aliases = kms.list_aliases(KeyId=env["FACES_KMS_KEY_ID"])["Aliases"]
    assert [a["AliasName"] for a in aliases] == ["alias/portal-faces-dev"]
    # Nothing else moved: the other stages, and the dev keys the stacks do not own.
    assert {k: v for k, v in after.items() if k != "dev"} == {
        k: v for k, v in before.items() if k != "dev"
    }
    for key in ("memory_size", "events", "exclude", "timeout_seconds"):
        assert dev[key] == before["dev"][key]
    # The file keeps its layout (4-space indent, key order), so the diff is the new values.
    assert path.read_text() == json.dumps(after, indent=4, ensure_ascii=False) + "\n"
    assert list(dev)[: len(before["dev"])] != []
    assert [k for k in dev if k in before["dev"]] == list(before["dev"])


def test_aws_settings_writes_only_what_production_does_not_inherit(
    account: Account, tmp_path: Path
) -> None:
    path = settings_copy(tmp_path)
    assert run_settings(account, "--stage", "dev", "--settings", str(path)).returncode == 0
    result = run_settings(account, "--stage", "production", "--settings", str(path))
    assert result.returncode == 0, result.stderr
    raw = json.loads(path.read_text())
    production = raw["production"]
    assert production["extends"] == "dev"
    assert production["lambda_concurrency"] == 808
    assert production["role_arn"].endswith(":role/portal-lambda-production")
    assert production["vpc_config"]["SecurityGroupIds"] == [
        account.outputs["production"]["network"]["LambdaSecurityGroupId"]
    ]
    # Its own layer, never dev's: one the dev deploy role could publish would run in production.
    assert production["layers"] == [account.production_layer_arn]
    assert account.production_layer_arn.endswith(":layer:portal-face-models-production:3")
    assert "memory_size" not in production
    env = production["environment_variables"]
    assert env["AWS_MEDIA_BUCKET_NAME"] == "portal-media-production"
    assert env["FACES_KMS_KEY_ID"] == account.outputs["production"]["data"]["FacesKeyArn"]
    assert env["FACES_KMS_KEY_ID"] != account.outputs["dev"]["data"]["FacesKeyArn"]
    assert env["SECURE_HSTS_SECONDS"] == "31536000"  # production's own variables stay
    # The image stage runs on production's stacks and inherits all of it; a rerun changes nothing.
    text = path.read_text()
    image = run_settings(account, "--stage", "production-image", "--settings", str(path))
    assert image.returncode == 0, image.stderr
    assert "already up to date" in image.stdout
    assert path.read_text() == text


def test_aws_settings_refuses_a_stage_the_file_does_not_have(
    account: Account, tmp_path: Path
) -> None:
    path = settings_copy(tmp_path)
    text = path.read_text()
    result = run_settings(account, "--stage", "staging", "--settings", str(path))
    assert result.returncode == 2
    assert "'staging'" in result.stderr
    assert "unchanged" in result.stderr
    assert path.read_text() == text


def test_aws_settings_names_the_stack_that_does_not_exist(account: Account, tmp_path: Path) -> None:
    path = settings_copy(tmp_path)
    text = path.read_text()
    result = run_settings(account, "--stage", "dev", "--settings", str(path), region="eu-west-1")
    assert result.returncode == 2
    assert "stack portal-dev-network does not exist" in result.stderr
    assert path.read_text() == text


def _stand_in_stacks(account: Account, region: str, stage: str, *, without: str) -> None:
    """The stacks aws-settings reads, as plain stacks carrying the real outputs but one."""
    cloudformation = account.client("cloudformation", region)
    names = {stack.concern: stack.name for stack in plan(stage)}
    for concern, needed in aws_settings.NEEDED.items():
        outputs = {
            name: {"Value": account.outputs[stage][concern][name]}
            for name in needed
            if name != without
        }
        template = {
            "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
            "Outputs": outputs,
        }
        cloudformation.create_stack(StackName=names[concern], TemplateBody=json.dumps(template))


def test_aws_settings_names_the_output_that_is_missing(account: Account, tmp_path: Path) -> None:
    _stand_in_stacks(account, "eu-west-2", "dev", without="StaticDomainName")
    path = settings_copy(tmp_path)
    text = path.read_text()
    result = run_settings(account, "--stage", "dev", "--settings", str(path), region="eu-west-2")
    assert result.returncode == 2
    assert "stack portal-dev-storage has no output StaticDomainName" in result.stderr
    assert path.read_text() == text


def test_aws_settings_names_the_layer_that_was_never_published(
    account: Account, tmp_path: Path
) -> None:
    _stand_in_stacks(account, "eu-west-3", "dev", without="")
    path = settings_copy(tmp_path)
    text = path.read_text()
    result = run_settings(account, "--stage", "dev", "--settings", str(path), region="eu-west-3")
    assert result.returncode == 2
    assert "no version of layer portal-face-models-dev" in result.stderr
    assert path.read_text() == text


# --- zappa deploy from those settings ----------------------------------------------------------


def zappa_dead_letter_config(path: Path, account: Account) -> dict[str, str]:
    import boto3
    from zappa.cli import ZappaCLI

    cli = ZappaCLI()
    cli.api_stage = "dev"
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    cli.load_settings(str(path), session=session)
    return cli.dead_letter_config


def test_zappa_deploys_the_dev_stage_into_the_stacks_and_the_api_is_throttled(
    account: Account, tmp_path: Path
) -> None:
    path = settings_copy(tmp_path)
    aws_settings.write_settings(
        "dev",
        settings_file=path,
        cloudformation=account.client("cloudformation"),
        lambda_client=account.client("lambda"),
    )
    raw = json.loads(path.read_text())
    raw["dev"]["touch"] = False  # nothing answers the function's URL on moto
    path.write_text(json.dumps(raw, indent=4))
    settings, outputs = raw["dev"], account.outputs["dev"]

    # As the deploy workflow does: the package built once, uploaded to the stack's bucket.
    package = build_package("dev")
    key = f"portal-dev-{package.zip_path.stem}.zip"
    account.client("s3").upload_file(str(package.zip_path), settings["s3_bucket"], key)
    package_uri = f"s3://{settings['s3_bucket']}/{key}"
    result = zappa_on_moto(account.moto.url, "deploy", "dev", "-z", package_uri, "-s", str(path))
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "Deployment complete" in result.stdout

    functions = account.client("lambda")
    config = functions.get_function_configuration(FunctionName="portal-dev")
    assert config["Role"] == outputs["iam"]["ExecutionRoleArn"]
    assert sorted(config["VpcConfig"]["SubnetIds"]) == sorted(
        outputs["network"]["PrivateSubnetIds"].split(",")
    )
    assert config["VpcConfig"]["SecurityGroupIds"] == [outputs["network"]["LambdaSecurityGroupId"]]
    # moto 5.2 does not keep a function's DeadLetterConfig; Zappa's own reading of the
    # settings shows what its CreateFunction call carried.
    assert zappa_dead_letter_config(path, account) == {
        "TargetArn": outputs["operations"]["DeadLetterQueueArn"]
    }
    assert [layer["Arn"] for layer in config["Layers"]] == [account.layer_arn]
    concurrency = functions.get_function_concurrency(FunctionName="portal-dev")
    assert concurrency["ReservedConcurrentExecutions"] == 174

    # After the deploy, the workflow runs `python -m ops.aws.throttle --stage dev`.
    apigateway = account.client("apigateway")
    api_id, rate, burst = throttle(
        "dev",
        aws_stage="dev",
        cloudformation=account.client("cloudformation"),
        apigateway=apigateway,
    )
    assert (rate, burst) == (10.0, 20)
    stage = apigateway.get_stage(restApiId=api_id, stageName="dev")
    assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == 10.0
    assert stage["methodSettings"]["*/*"]["throttlingBurstLimit"] == 20
