"""The IAM stacks (ops/aws/github-oidc.yaml, ops/aws/iam.yaml): cfn-lint clean, created on moto's
server beside stand-ins for the other stacks' exports, and their policies as IAM then holds them:
each stage's roles name that stage's resources only, a deploy role is assumable from its own
GitHub environment only, and cloudsplaining and parliament find no privilege escalation and no
wildcard but the commented ones."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.aws import MotoServer
from tests.deploy.lambda_build import REPO, stage_settings

pytestmark = pytest.mark.nodb

AWS_DIR = REPO / "ops" / "aws"
IAM_TEMPLATE = AWS_DIR / "iam.yaml"
OIDC_TEMPLATE = AWS_DIR / "github-oidc.yaml"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")
TOOLS_PYTHON = REPO / ".venv-tools" / "bin" / "python"
LINT_SCRIPT = Path(__file__).with_name("iam_lint.py")

STAGES = ("dev", "production")
OTHER = {"dev": "production", "production": "dev"}
# The Zappa stages each stage's stacks carry: production-image is production as an image.
ZAPPA_STAGES = {"dev": ("dev",), "production": ("production", "production-image")}
ACCOUNT = "123456789012"  # moto's account
REGION = "us-east-1"
REPOSITORY = "example/portal"
OIDC_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"


# The data stack's FacesKey of each stage (KMS key ids are random).
FACES_KEY_IDS = {
    "dev": "0b1c2d3e-0000-4000-8000-000000000001",
    "production": "0b1c2d3e-0000-4000-8000-000000000002",
}


def ecr_repository(stage: str) -> str:
    return f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/portal-{stage}"


def face_model_layer(stage: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:portal-face-models-{stage}"


# The only writes on "*", each commented in iam.yaml with the reason.
STAR_WRITES = {
    "sns:Publish": "an SMS goes to a phone number, which has no ARN (topics are denied)",
    "ec2:CreateNetworkInterface": "Lambda makes the VPC interfaces before they have an ID",
    "ec2:DeleteNetworkInterface": "the same interfaces, removed by Lambda",
    "ec2:AssignPrivateIpAddresses": "the same interfaces",
    "ec2:UnassignPrivateIpAddresses": "the same interfaces",
}
# Reads AWS offers only on "*" (their statement in iam.yaml says so).
READS_WITHOUT_RESOURCES = {
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    "cloudwatch:GetMetricStatistics",
    "events:ListRuleNamesByTarget",
    "lambda:ListLayerVersions",
    "ecr:GetAuthorizationToken",
}
# parliament's community auditors flag these action sets whatever the resources; each is what a
# deploy role is for, and test_passrole_* below bounds it to the stage's own execution role.
DEPLOY_ESCALATIONS = {
    "PassExistingRoleToNewLambdaThenInvoke": "deploying runs code as the stage's execution role",
    "EditExistingLambdaFunctionWithRole": "updating the code is the deploy",
    "PassExistingRoleToCloudFormation": "PassRole excludes cloudformation.amazonaws.com",
}


@dataclass(frozen=True)
class Role:
    name: str
    trust: dict[str, Any]
    policy: dict[str, Any]

    @property
    def statements(self) -> list[dict[str, Any]]:
        return self.policy["Statement"]

    def allowed(self) -> list[dict[str, Any]]:
        return [s for s in self.statements if s["Effect"] == "Allow"]


@dataclass(frozen=True)
class IamStacks:
    roles: dict[str, Role]
    outputs: dict[str, dict[str, dict[str, str]]]  # stage -> output key -> {value, export}
    provider_arn: str


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def stand_in_exports(stage: str) -> dict[str, str]:
    """What the storage, data, messaging and operations stacks export (the contract's names)."""
    values = {
        "DeploymentBucketArn": f"arn:aws:s3:::portal-zappa-deployments-{stage}",
        "StaticBucketArn": f"arn:aws:s3:::portal-static-{stage}",
        "MediaBucketArn": f"arn:aws:s3:::portal-media-{stage}",
        "RemoteEnvBucketArn": f"arn:aws:s3:::portal-secrets-{stage}",
        "DatabaseSecretArn": (
            f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!cluster-{stage}-AbCdEf"
        ),
        "SesIdentityArn": f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{stage}.example.com",
        "SesConfigurationSetName": f"portal-{stage}",
        "DeadLetterQueueArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:portal-{stage}-dlq",
        "LogGroupName": f"/aws/lambda/portal-{stage}",
        "FacesKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{FACES_KEY_IDS[stage]}",
    }
    if stage == "production":
        values["ImageLogGroupName"] = "/aws/lambda/portal-production-image"
    return {f"portal-{stage}-{key}": value for key, value in values.items()}


def exports_template(exports: dict[str, str]) -> str:
    outputs = {
        re.sub(r"[^A-Za-z0-9]", "", name): {"Value": value, "Export": {"Name": name}}
        for name, value in exports.items()
    }
    handle = {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}
    return json.dumps({"Resources": handle, "Outputs": outputs})


def zappa_rule_names(stage: str) -> set[str]:
    """The EventBridge rule names Zappa gives the events of a Zappa stage."""
    from zappa.core import Zappa

    lambda_name = f"portal-{stage}"
    # get_scheduled_event_name uses no instance state.
    zappa = Zappa.__new__(Zappa)
    return {
        zappa.get_scheduled_event_name(event, event["function"], lambda_name)
        for event in stage_settings(stage)["events"]
    }


def other_stage_arns(stage: str) -> list[str]:
    """Concrete ARNs of the other stage's resources, which no pattern of `stage` may match."""
    other = OTHER[stage]
    exports = stand_in_exports(other)
    arns = [v for v in exports.values() if v.startswith("arn:")]
    arns += [f"{exports[f'portal-{other}-{b}BucketArn']}/x" for b in ("Static", "Media")]
    arns += [
        f"{exports[f'portal-{other}-DeploymentBucketArn']}/portal-{other}.zip",
        f"{exports[f'portal-{other}-RemoteEnvBucketArn']}/portal-{other}.json",
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:portal-{other}",
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:portal-{other}:7",
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/portal-{other}/0a1b2c",
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/portal-{other}-operations/0a1b2c",
        f"arn:aws:iam::{ACCOUNT}:role/portal-lambda-{other}",
        f"arn:aws:iam::{ACCOUNT}:role/portal-deploy-{other}",
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/portal-{other}:log-stream:x",
        f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/portal-{other}",
        # The image and the face-model layer run inside the other stage's functions.
        ecr_repository(other),
        face_model_layer(other),
        f"{face_model_layer(other)}:3",
        # The one layer both stages once shared: what either published, the other could run.
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:portal-face-models",
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:portal-face-models:3",
    ]
    for zappa_stage in ZAPPA_STAGES[other]:
        arns += [
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:portal-{zappa_stage}",
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:portal-{zappa_stage}:7",
            f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/portal-{zappa_stage}/0a1b2c",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/portal-{zappa_stage}:log-stream:x",
        ]
        arns += [
            f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"
            for name in zappa_rule_names(zappa_stage)
        ]
    return arns


def policy_document(raw: Any) -> dict[str, Any]:
    # moto hands an inline policy back as the text of a Python dict, AWS as JSON.
    if isinstance(raw, dict):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return ast.literal_eval(raw)


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamStacks]:
    moto = MotoServer(tmp_path_factory.mktemp("iam") / "moto.log").start()
    try:
        cloudformation = moto.client("cloudformation")
        cloudformation.create_stack(
            StackName="portal-ecr",
            TemplateBody=exports_template(
                {
                    "portal-ecr-DevRepositoryArn": ecr_repository("dev"),
                    "portal-ecr-ProductionRepositoryArn": ecr_repository("production"),
                }
            ),
        )
        cloudformation.create_stack(
            StackName="portal-github-oidc", TemplateBody=OIDC_TEMPLATE.read_text()
        )
        outputs: dict[str, dict[str, dict[str, str]]] = {}
        for stage in STAGES:
            cloudformation.create_stack(
                StackName=f"portal-{stage}-exports",
                TemplateBody=exports_template(stand_in_exports(stage)),
            )
            cloudformation.create_stack(
                StackName=f"portal-{stage}-iam",
                TemplateBody=IAM_TEMPLATE.read_text(),
                Parameters=[
                    {"ParameterKey": "Stage", "ParameterValue": stage},
                    {"ParameterKey": "GitHubRepository", "ParameterValue": REPOSITORY},
                ],
                Capabilities=["CAPABILITY_NAMED_IAM"],
            )
            stack = cloudformation.describe_stacks(StackName=f"portal-{stage}-iam")["Stacks"][0]
            assert stack["StackStatus"] == "CREATE_COMPLETE", stack
            outputs[stage] = {
                o["OutputKey"]: {"value": o["OutputValue"], "export": o.get("ExportName", "")}
                for o in stack["Outputs"]
            }
        oidc = cloudformation.describe_stacks(StackName="portal-github-oidc")["Stacks"][0]
        iam = moto.client("iam")
        roles = {}
        for name in (f"portal-{kind}-{stage}" for kind in ("deploy", "lambda") for stage in STAGES):
            # Production's roles carry a second inline policy for the image stage: one
            # document with every statement is what the role may do.
            statements = [
                statement
                for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]
                for statement in policy_document(
                    iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
                )["Statement"]
            ]
            roles[name] = Role(
                name,
                policy_document(iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]),
                {"Version": "2012-10-17", "Statement": statements},
            )
        yield IamStacks(roles, outputs, oidc["Outputs"][0]["OutputValue"])
    finally:
        moto.stop()


def tools_python() -> str:
    if TOOLS_PYTHON.is_file():
        return str(TOOLS_PYTHON)
    message = (
        "cloudsplaining and parliament live in .venv-tools: python3.12 -m venv .venv-tools && "
        ".venv-tools/bin/pip install -r requirements-ops.txt (make test does)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


BROAD_POLICY = {  # the deploy policy this stack replaced, in brief
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["lambda:*", "cloudformation:*"], "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
    ],
}


@pytest.fixture(scope="module")
def findings(stacks: IamStacks) -> dict[str, dict[str, Any]]:
    policies = {name: role.policy for name, role in stacks.roles.items()}
    policies["broad"] = BROAD_POLICY
    result = subprocess.run(
        [tools_python(), "-W", "ignore", str(LINT_SCRIPT)],
        input=json.dumps(policies),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("template", [IAM_TEMPLATE, OIDC_TEMPLATE], ids=lambda p: p.name)
def test_the_iam_templates_pass_cfn_lint(template: Path) -> None:
    result = subprocess.run(
        [str(CFN_LINT), str(template)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("stage", STAGES)
def test_the_iam_stack_exports_the_roles_by_the_contract_s_names(
    stacks: IamStacks, stage: str
) -> None:
    outputs = stacks.outputs[stage]
    assert {key: o["export"] for key, o in outputs.items()} == {
        key: f"portal-{stage}-{key}"
        for key in ("ExecutionRoleArn", "ExecutionRoleName", "DeployRoleArn")
    }
    assert outputs["ExecutionRoleName"]["value"] == stage_settings(stage)["role_name"]
    assert outputs["DeployRoleArn"]["value"].endswith(f":role/portal-deploy-{stage}")


def test_the_oidc_stack_exports_github_s_provider(stacks: IamStacks) -> None:
    assert stacks.provider_arn == OIDC_PROVIDER


@pytest.mark.parametrize("stage", STAGES)
def test_a_deploy_role_is_assumable_only_from_its_own_github_environment(
    stacks: IamStacks, stage: str
) -> None:
    (statement,) = stacks.roles[f"portal-deploy-{stage}"].trust["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Federated": OIDC_PROVIDER}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": f"repo:{REPOSITORY}:environment:{stage}",
        }
    }


@pytest.mark.parametrize("stage", STAGES)
def test_the_execution_role_is_assumable_only_by_lambda_and_api_gateway(
    stacks: IamStacks, stage: str
) -> None:
    (statement,) = stacks.roles[f"portal-lambda-{stage}"].trust["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert set(as_list(statement["Principal"]["Service"])) == {
        "lambda.amazonaws.com",
        "apigateway.amazonaws.com",
    }


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_s_roles_name_none_of_the_other_stage_s_resources(
    stacks: IamStacks, stage: str
) -> None:
    other = OTHER[stage]
    forbidden = other_stage_arns(stage)
    for kind in ("deploy", "lambda"):
        role = stacks.roles[f"portal-{kind}-{stage}"]
        assert f"portal-{other}" not in json.dumps(role.policy), role.name
        for statement in role.allowed():
            for pattern in as_list(statement["Resource"]):
                matched = [arn for arn in forbidden if fnmatchcase(arn, pattern)]
                if pattern == "*":
                    assert set(as_list(statement["Action"])) <= {
                        *STAR_WRITES,
                        *READS_WITHOUT_RESOURCES,
                    }, statement
                else:
                    assert not matched, (role.name, statement["Sid"], matched)
            for condition in statement.get("Condition", {}).values():
                for key, value in condition.items():
                    if "ResourceTag" in key or "RequestTag" in key:
                        assert value in {f"portal-{s}" for s in ZAPPA_STAGES[stage]}, statement


@pytest.mark.parametrize("stage", STAGES)
def test_the_deploy_role_reaches_its_own_stage_s_resources(stacks: IamStacks, stage: str) -> None:
    """The other side of the boundary: what a deploy of this stage touches is allowed."""
    role = stacks.roles[f"portal-deploy-{stage}"]
    exports = stand_in_exports(stage)
    needed = {
        "lambda:UpdateFunctionCode": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:portal-{stage}",
        "lambda:DeleteFunction": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:portal-{stage}:3",
        "s3:PutObject": f"{exports[f'portal-{stage}-StaticBucketArn']}/static/css/portal.css",
        "cloudformation:UpdateStack": (
            f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/portal-{stage}/0a1b2c"
        ),
        "cloudformation:DescribeStacks": (
            f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/portal-{stage}-operations/0a1b2c"
        ),
        "iam:PassRole": f"arn:aws:iam::{ACCOUNT}:role/portal-lambda-{stage}",
        "ecr:PutImage": ecr_repository(stage),
        "lambda:PublishLayerVersion": face_model_layer(stage),
        "lambda:GetLayerVersion": f"{face_model_layer(stage)}:3",
    }
    for action, arn in needed.items():
        assert any(
            action in as_list(s["Action"])
            and any(fnmatchcase(arn, p) for p in as_list(s["Resource"]))
            for s in role.allowed()
        ), (action, arn)
    unqualified = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:portal-{stage}"
    assert not any(
        "lambda:DeleteFunction" in as_list(s["Action"])
        and any(fnmatchcase(unqualified, p) for p in as_list(s["Resource"]))
        for s in role.allowed()
    ), "the deploy role may prune versions, not delete the function"


def allows(role: Role, action: str, arn: str) -> bool:
    return any(
        action in as_list(s["Action"]) and any(fnmatchcase(arn, p) for p in as_list(s["Resource"]))
        for s in role.allowed()
    )


def test_the_production_deploy_role_reaches_the_image_stage_s_resources(
    stacks: IamStacks,
) -> None:
    role = stacks.roles["portal-deploy-production"]
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:portal-production-image"
    needed = {
        ("lambda:CreateFunction", function),
        ("lambda:UpdateFunctionCode", function),
        ("lambda:PutFunctionConcurrency", function),
        ("lambda:DeleteFunction", f"{function}:3"),
        (
            "cloudformation:CreateStack",
            f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/portal-production-image/0a1b2c",
        ),
        # Lambda has the caller pull the image it creates the function from.
        ("ecr:BatchGetImage", ecr_repository("production")),
        ("ecr:GetDownloadUrlForLayer", ecr_repository("production")),
        ("iam:PassRole", stacks.outputs["production"]["ExecutionRoleArn"]["value"]),
    }
    needed |= {
        ("events:PutRule", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}")
        for name in zappa_rule_names("production-image")
    }
    assert [need for need in sorted(needed) if not allows(role, *need)] == []
    assert not allows(role, "lambda:DeleteFunction", function)
    creates = [
        s["Condition"]["StringEquals"]["aws:RequestTag/ZappaProject"]
        for s in role.allowed()
        if "apigateway:POST" in as_list(s["Action"]) and s["Resource"].endswith("::/restapis")
    ]
    assert sorted(creates) == ["portal-production", "portal-production-image"]


def test_the_image_function_writes_its_logs_and_invokes_itself_as_production_s_role(
    stacks: IamStacks,
) -> None:
    role = stacks.roles["portal-lambda-production"]
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:portal-production-image"
    log_group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/portal-production-image"
    assert allows(role, "logs:PutLogEvents", f"{log_group}:log-stream:2026/12/07/[$LATEST]abc")
    assert allows(role, "lambda:InvokeFunction", function)
    assert not allows(stacks.roles["portal-lambda-dev"], "lambda:InvokeFunction", function)


@pytest.mark.parametrize("stage", STAGES)
def test_api_gateway_changes_are_bound_to_the_stage_s_zappa_tag(
    stacks: IamStacks, stage: str
) -> None:
    """REST API IDs are random: the ZappaProject tag of Zappa's stack is what names the stage."""
    writes = {"apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE"}
    statements = [
        s
        for s in stacks.roles[f"portal-deploy-{stage}"].allowed()
        if writes & set(as_list(s["Action"]))
    ]
    assert statements
    for statement in statements:
        tags = {
            key.split("/", 1)[0]: value
            for key, value in statement["Condition"]["StringEquals"].items()
        }
        projects = [f"portal-{s}" for s in ZAPPA_STAGES[stage]]
        assert tags in (
            *({"aws:ResourceTag": project} for project in projects),
            *({"aws:RequestTag": project} for project in projects),
        )
        assert all(key.endswith("/ZappaProject") for key in statement["Condition"]["StringEquals"])


@pytest.mark.parametrize("stage", STAGES)
def test_passrole_hands_only_the_stage_s_execution_role_to_lambda_api_gateway_and_events(
    stacks: IamStacks, stage: str
) -> None:
    passes = [
        s
        for role in stacks.roles.values()
        if role.name.endswith(f"-{stage}")
        for s in role.allowed()
        if any(fnmatchcase("iam:PassRole", a) for a in as_list(s["Action"]))
    ]
    (statement,) = passes
    assert as_list(statement["Resource"]) == [stacks.outputs[stage]["ExecutionRoleArn"]["value"]]
    services = set(as_list(statement["Condition"]["StringEquals"]["iam:PassedToService"]))
    assert services == {"lambda.amazonaws.com", "apigateway.amazonaws.com", "events.amazonaws.com"}
    # Where the escalation a deploy role has by nature ends: the execution role grants no IAM.
    execution = stacks.roles[f"portal-lambda-{stage}"]
    actions = [a for s in execution.allowed() for a in as_list(s["Action"])]
    assert not [a for a in actions if a.startswith("iam:")]


@pytest.mark.parametrize("stage", STAGES)
def test_the_schedule_rules_are_the_names_zappa_gives_the_stage_s_events(
    stacks: IamStacks, stage: str
) -> None:
    (statement,) = [
        s for s in stacks.roles[f"portal-deploy-{stage}"].allowed() if s["Sid"] == "ZappaSchedules"
    ]
    prefix = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/"
    assert {arn.removeprefix(prefix) for arn in as_list(statement["Resource"])} == (
        zappa_rule_names(stage)
    )


def test_the_image_stage_s_schedule_rules_are_the_names_zappa_gives_its_events(
    stacks: IamStacks,
) -> None:
    (statement,) = [
        s
        for s in stacks.roles["portal-deploy-production"].allowed()
        if s["Sid"] == "ImageStageSchedules"
    ]
    prefix = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/"
    assert {arn.removeprefix(prefix) for arn in as_list(statement["Resource"])} == (
        zappa_rule_names("production-image")
    )


@pytest.mark.parametrize("role", [f"portal-{k}-{s}" for k in ("deploy", "lambda") for s in STAGES])
def test_cloudsplaining_finds_no_privilege_escalation_and_no_unintended_wildcard(
    findings: dict[str, dict[str, Any]], role: str
) -> None:
    found = findings[role]["cloudsplaining"]
    assert found["privilege_escalation"] == []
    assert found["permissions_management_without_constraints"] == []
    assert found["tagging_actions_without_constraints"] == []
    assert found["data_exfiltration"] == []
    assert found["service_wildcard"] == []
    assert set(found["write_actions_without_constraints"]) <= set(STAR_WRITES)
    assert set(found["credentials_exposure"]) <= {"ecr:GetAuthorizationToken"}


@pytest.mark.parametrize("role", [f"portal-{k}-{s}" for k in ("deploy", "lambda") for s in STAGES])
def test_parliament_finds_nothing_but_the_reasoned_exceptions(
    findings: dict[str, dict[str, Any]], role: str
) -> None:
    for finding in findings[role]["parliament"]:
        issue, location = finding["issue"], finding["location"]
        if issue == "RESOURCE_STAR":
            assert set(ast.literal_eval(finding["detail"])) <= set(STAR_WRITES), finding
        elif issue == "PRIVILEGE_ESCALATION" and role.startswith("portal-deploy-"):
            assert ast.literal_eval(location)["type"] in DEPLOY_ESCALATIONS, finding
        elif issue == "PERMISSIONS_MANAGEMENT_ACTIONS" and role.startswith("portal-deploy-"):
            # Zappa's schedules need lambda:AddPermission; PassRole is bounded above.
            actions = set(ast.literal_eval(location)["actions"])
            assert actions <= {"iam:passrole", "lambda:addpermission", "lambda:removepermission"}
        elif issue == "CREDENTIALS_EXPOSURE" and role.startswith("portal-deploy-"):
            assert ast.literal_eval(location)["actions"] == ["ecr:getauthorizationtoken"]
        else:
            pytest.fail(f"{role}: {finding}")


def test_the_linters_would_flag_a_broad_deploy_policy(findings: dict[str, dict[str, Any]]) -> None:
    found = findings["broad"]
    assert found["cloudsplaining"]["privilege_escalation"]
    assert {"lambda", "cloudformation"} <= set(found["cloudsplaining"]["service_wildcard"])
    assert {f["issue"] for f in found["parliament"]} >= {"RESOURCE_STAR", "PRIVILEGE_ESCALATION"}


def test_every_star_resource_in_the_template_carries_its_reason() -> None:
    lines = IAM_TEMPLATE.read_text().splitlines()
    stars = [i for i, line in enumerate(lines) if line.strip() == 'Resource: "*"']
    assert stars, "the template has its commented wildcards"
    for index in stars:
        start = max(i for i in range(index) if lines[i].lstrip().startswith("- Sid:"))
        statement = lines[start:index]
        assert any('# "*":' in line for line in statement), lines[start]
