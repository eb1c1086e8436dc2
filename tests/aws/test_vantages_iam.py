"""The NetProbe vantage roles (ops/aws/vantages-iam.yaml): cfn-lint, checkov, cloudsplaining and
parliament clean; created on moto's server with the parameters ops/aws/stacks.py gives it; and as
IAM then holds them: the deploy role is assumable from the production environment only, reaches
what the `vantages` job and Zappa touch for every listed region and nothing of the hub's, only in
the regions of ops/vantages.json, and hands on only the vantage execution role, which can log,
be invoked by its APIs and read the vantages' secrets, and nothing else."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import pytest

from ops import vantages
from ops.aws.stacks import STAGES, plan
from tests.aws.support import ACCOUNT, AWS_DIR, CFN_LINT, CHECKOV, require_tool
from tests.aws.test_iam import (
    LINT_SCRIPT,
    OIDC_PROVIDER,
    OIDC_TEMPLATE,
    READS_WITHOUT_RESOURCES,
    as_list,
    exports_template,
    policy_document,
    tools_python,
)
from tests.deploy.aws import MotoServer
from tests.deploy.lambda_build import REPO, stage_settings
from tests.ops.support import run_checkov

pytestmark = pytest.mark.nodb

TEMPLATE = AWS_DIR / "vantages-iam.yaml"
EXECUTION, DEPLOY = "portal-lambda-vantage", "portal-deploy-vantages"
REGIONS = vantages.regions()
SECRETS = "arn:aws:s3:::portal-secrets-production"
HUB_REGION = "us-east-1"
# parliament's community auditors flag these whatever the resources; each is what a deploy role
# is for, and the PassRole test below bounds it to the vantage execution role.
DEPLOY_ESCALATIONS = {"EditExistingLambdaFunctionWithRole", "PassExistingRoleToCloudFormation"}


@dataclass(frozen=True)
class Role:
    trust: dict[str, Any]
    policy: dict[str, Any]

    def allowed(self) -> list[dict[str, Any]]:
        return [s for s in self.policy["Statement"] if s["Effect"] == "Allow"]

    def allows(self, action: str, arn: str, region: str) -> bool:
        """Whether an Allow statement grants `action` on `arn` for a request to `region`."""
        for statement in self.allowed():
            if action not in as_list(statement["Action"]):
                continue
            if not any(fnmatchcase(arn, p) for p in as_list(statement["Resource"])):
                continue
            wanted = statement.get("Condition", {}).get("StringEquals", {})
            if "aws:RequestedRegion" in wanted and region not in wanted["aws:RequestedRegion"]:
                continue
            return True
        return False


@dataclass(frozen=True)
class VantageStack:
    roles: dict[str, Role]
    outputs: dict[str, dict[str, str]]


def the_stack() -> Any:
    (stack,) = [s for s in plan("production") if s.template == TEMPLATE]
    return stack


def create_stack(moto: MotoServer) -> VantageStack:
    """The stack on moto as `make aws-stacks STAGE=production` makes it, beside stand-ins for the
    exports it imports; its roles as IAM then holds them."""
    cloudformation = moto.client("cloudformation")
    cloudformation.create_stack(
        StackName="portal-github-oidc", TemplateBody=OIDC_TEMPLATE.read_text()
    )
    cloudformation.create_stack(
        StackName="portal-production-exports",
        TemplateBody=exports_template({"portal-production-RemoteEnvBucketArn": SECRETS}),
    )
    planned = the_stack()
    cloudformation.create_stack(
        StackName=planned.name,
        TemplateBody=TEMPLATE.read_text(),
        Parameters=[
            {"ParameterKey": key, "ParameterValue": value}
            for key, value in planned.parameters.items()
        ],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    (described,) = cloudformation.describe_stacks(StackName=planned.name)["Stacks"]
    assert described["StackStatus"] == "CREATE_COMPLETE", described
    iam = moto.client("iam")
    roles = {}
    for name in (EXECUTION, DEPLOY):
        statements = [
            statement
            for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]
            for statement in policy_document(
                iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
            )["Statement"]
        ]
        roles[name] = Role(
            policy_document(iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]),
            {"Version": "2012-10-17", "Statement": statements},
        )
    outputs = {
        o["OutputKey"]: {"value": o["OutputValue"], "export": o.get("ExportName", "")}
        for o in described["Outputs"]
    }
    return VantageStack(roles, outputs)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VantageStack]:
    moto = MotoServer(tmp_path_factory.mktemp("vantages-iam") / "moto.log").start()
    try:
        yield create_stack(moto)
    finally:
        moto.stop()


def zappa_lambda_name(stage: str) -> str:
    """The name Zappa gives a stage's function, stack and API tag (ZappaCLI.lambda_name)."""
    import slugify

    return slugify.slugify(f"{stage_settings(stage)['project_name']}-{stage}")


# --- the template and its wiring --------------------------------------------------------------


def test_the_template_passes_cfn_lint() -> None:
    tool = require_tool(CFN_LINT, "pip install -r requirements-dev.txt")
    result = subprocess.run([tool, str(TEMPLATE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_fails_no_check_on_the_template(tmp_path: Any) -> None:
    tool = require_tool(
        CHECKOV, "python3.12 -m venv .venv-tools && pip install -r requirements-ops.txt"
    )
    (tmp_path / TEMPLATE.name).write_text(TEMPLATE.read_text())
    (report,) = run_checkov(tool, tmp_path, "cloudformation")
    assert report["summary"]["parsing_errors"] == 0
    assert report["results"]["passed_checks"]
    assert report["results"]["failed_checks"] == []


def test_make_aws_stacks_creates_it_for_production_only_after_the_hub_s_roles() -> None:
    concerns = [s.concern for s in plan("production")]
    assert concerns[-2:] == ["iam", "vantages-iam"]
    assert "vantages-iam" not in [s.concern for s in plan("dev")]
    assert set(STAGES) == {"dev", "production"}


def test_the_stack_gets_the_regions_of_ops_vantages_json_and_the_hub_s_repository() -> None:
    planned = the_stack()
    assert planned.parameters["VantageRegions"].split(",") == REGIONS
    (hub,) = [s for s in plan("production") if s.concern == "iam"]
    assert planned.parameters["GitHubRepository"] == hub.parameters["GitHubRepository"]


def test_every_star_resource_in_the_template_carries_its_reason() -> None:
    lines = TEMPLATE.read_text().splitlines()
    stars = [i for i, line in enumerate(lines) if line.strip() == 'Resource: "*"']
    assert stars
    for index in stars:
        start = max(i for i in range(index) if lines[i].lstrip().startswith("- Sid:"))
        assert any('# "*":' in line for line in lines[start:index]), lines[start]


# --- as created --------------------------------------------------------------------------------


def test_the_stack_exports_the_roles_and_every_vantage_stage_runs_as_the_execution_role(
    stack: VantageStack,
) -> None:
    assert {key: o["export"] for key, o in stack.outputs.items()} == {
        "VantageExecutionRoleArn": "portal-vantages-ExecutionRoleArn",
        "VantageExecutionRoleName": "portal-vantages-ExecutionRoleName",
        "VantageDeployRoleArn": "portal-vantages-DeployRoleArn",
    }
    assert stack.outputs["VantageDeployRoleArn"]["value"] == f"arn:aws:iam::{ACCOUNT}:role/{DEPLOY}"
    for region in REGIONS:
        settings = stage_settings(vantages.stage_name(region))
        assert settings["role_name"] == stack.outputs["VantageExecutionRoleName"]["value"]
        # The deploy role cannot create roles: Zappa must use this one, not make its own.
        assert settings["manage_roles"] is False


def test_the_deploy_role_is_assumable_only_from_the_production_environment(
    stack: VantageStack,
) -> None:
    (statement,) = stack.roles[DEPLOY].trust["Statement"]
    assert statement["Principal"] == {"Federated": OIDC_PROVIDER}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    repository = the_stack().parameters["GitHubRepository"]
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": f"repo:{repository}:environment:production",
        }
    }


def test_the_execution_role_is_assumable_only_by_lambda_and_api_gateway(
    stack: VantageStack,
) -> None:
    (statement,) = stack.roles[EXECUTION].trust["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert set(as_list(statement["Principal"]["Service"])) == {
        "lambda.amazonaws.com",
        "apigateway.amazonaws.com",
    }


def test_the_deploy_role_acts_only_in_the_listed_regions(stack: VantageStack) -> None:
    for statement in stack.roles[DEPLOY].allowed():
        actions = as_list(statement["Action"])
        if all(a.startswith("iam:") for a in actions):
            continue  # IAM is global: its requests name us-east-1
        regions = statement["Condition"]["StringEquals"]["aws:RequestedRegion"]
        assert regions == REGIONS, statement["Sid"]
    function = f"arn:aws:lambda:{HUB_REGION}:{ACCOUNT}:function:portal-vantage-{HUB_REGION}"
    assert not stack.roles[DEPLOY].allows("lambda:CreateFunction", function, HUB_REGION)


def test_passrole_hands_only_the_vantage_execution_role_to_lambda_and_api_gateway(
    stack: VantageStack,
) -> None:
    passes = [
        s
        for role in stack.roles.values()
        for s in role.allowed()
        if any(fnmatchcase("iam:PassRole", a) for a in as_list(s["Action"]))
    ]
    (statement,) = passes
    execution_arn = stack.outputs["VantageExecutionRoleArn"]["value"]
    assert as_list(statement["Resource"]) == [execution_arn]
    services = set(as_list(statement["Condition"]["StringEquals"]["iam:PassedToService"]))
    assert services == {"lambda.amazonaws.com", "apigateway.amazonaws.com"}
    iam_grants = [
        (a, r)
        for s in stack.roles[DEPLOY].allowed()
        for a in as_list(s["Action"])
        if a.startswith("iam:")
        for r in as_list(s["Resource"])
    ]
    assert sorted(iam_grants) == [("iam:GetRole", execution_arn), ("iam:PassRole", execution_arn)]


@pytest.mark.parametrize("region", REGIONS)
def test_the_deploy_role_reaches_what_the_vantages_job_and_zappa_touch(
    stack: VantageStack, region: str
) -> None:
    stage = vantages.stage_name(region)
    name = zappa_lambda_name(stage)
    assert name == f"portal-vantage-{region}"
    bucket = f"arn:aws:s3:::{stage_settings(stage)['s3_bucket']}"
    function = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"
    group = f"arn:aws:logs:{region}:{ACCOUNT}:log-group:/aws/lambda/{name}"
    needed = [
        ("s3:CreateBucket", bucket),
        ("s3:ListBucket", bucket),
        ("s3:PutObject", f"{bucket}/portal-{stage}-0a1b2c.zip"),
        ("s3:DeleteObject", f"{bucket}/{name}-template-1700000000.json"),
        ("logs:CreateLogGroup", group),
        ("logs:PutRetentionPolicy", group),
        ("lambda:CreateFunction", function),
        ("lambda:UpdateFunctionCode", function),
        ("lambda:DeleteFunctionConcurrency", function),
        ("lambda:DeleteFunction", f"{function}:3"),
        ("cloudformation:CreateStack", f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{name}/1"),
        ("apigateway:GET", f"arn:aws:apigateway:{region}::/restapis"),
        ("cloudwatch:GetMetricStatistics", "*"),
    ]
    role = stack.roles[DEPLOY]
    assert [need for need in needed if not role.allows(*need, region)] == []
    assert not role.allows("lambda:DeleteFunction", function, region)
    creates = [
        s["Condition"]["StringEquals"]["aws:RequestTag/ZappaProject"]
        for s in role.allowed()
        if "aws:RequestTag/ZappaProject" in s.get("Condition", {}).get("StringEquals", {})
    ]
    assert creates == [[zappa_lambda_name(vantages.stage_name(r)) for r in REGIONS]]


def test_the_vantage_roles_name_nothing_of_the_hub(stack: VantageStack) -> None:
    hub = [
        f"arn:aws:s3:::portal-zappa-deployments-{s}/portal-{s}.zip" for s in ("dev", "production")
    ]
    hub += [f"{SECRETS}/portal-production.json", "arn:aws:s3:::portal-secrets-dev/portal-dev.json"]
    for name in ("portal-dev", "portal-production", "portal-production-image"):
        hub += [
            f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"
            for region in (HUB_REGION, *REGIONS)
        ]
        hub += [
            f"arn:aws:cloudformation:{HUB_REGION}:{ACCOUNT}:stack/{name}/1",
            f"arn:aws:logs:{HUB_REGION}:{ACCOUNT}:log-group:/aws/lambda/{name}:log-stream:x",
        ]
    hub += [f"arn:aws:iam::{ACCOUNT}:role/portal-lambda-{s}" for s in ("dev", "production")]
    for role in stack.roles.values():
        for statement in role.allowed():
            for pattern in as_list(statement["Resource"]):
                if pattern == "*":
                    assert set(as_list(statement["Action"])) <= READS_WITHOUT_RESOURCES
                    continue
                assert [arn for arn in hub if fnmatchcase(arn, pattern)] == [], statement["Sid"]
            for key, value in statement.get("Condition", {}).get("StringEquals", {}).items():
                if key.endswith("Tag/ZappaProject"):
                    assert all(v.startswith("portal-vantage-") for v in value), statement


def test_the_execution_role_can_only_log_be_invoked_and_read_the_vantage_secrets(
    stack: VantageStack,
) -> None:
    role = stack.roles[EXECUTION]
    actions = {a for s in role.allowed() for a in as_list(s["Action"])}
    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "lambda:InvokeFunction",
        "s3:GetObject",
    }
    assert not [s for s in role.policy["Statement"] if s["Effect"] != "Allow"]
    assert all("*" not in a for a in actions)
    for region in REGIONS:
        name = f"portal-vantage-{region}"
        group = f"arn:aws:logs:{region}:{ACCOUNT}:log-group:/aws/lambda/{name}"
        assert role.allows("logs:PutLogEvents", f"{group}:log-stream:2026/12/07/x", region)
        function = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"
        assert role.allows("lambda:InvokeFunction", function, region)
        # The secrets bucket lives in the hub's region: the request is made there.
        assert role.allows("s3:GetObject", f"{SECRETS}/vantages/{region}.json", HUB_REGION)
    assert not role.allows("s3:GetObject", f"{SECRETS}/portal-production.json", HUB_REGION)
    assert not role.allows("s3:GetObject", f"{SECRETS}/vantagesX/a.json", HUB_REGION)
    hub_function = f"arn:aws:lambda:{HUB_REGION}:{ACCOUNT}:function:portal-production"
    assert not role.allows("lambda:InvokeFunction", hub_function, HUB_REGION)


# --- the IAM linters ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def findings(stack: VantageStack) -> dict[str, dict[str, Any]]:
    result = subprocess.run(
        [tools_python(), "-W", "ignore", str(LINT_SCRIPT)],
        input=json.dumps({name: role.policy for name, role in stack.roles.items()}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("role", [EXECUTION, DEPLOY])
def test_cloudsplaining_finds_no_escalation_exfiltration_or_unconstrained_write(
    findings: dict[str, dict[str, Any]], role: str
) -> None:
    found = findings[role]["cloudsplaining"]
    assert {key: value for key, value in found.items() if value} == {}


@pytest.mark.parametrize("role", [EXECUTION, DEPLOY])
def test_parliament_finds_nothing_but_what_deploying_is(
    findings: dict[str, dict[str, Any]], role: str
) -> None:
    for finding in findings[role]["parliament"]:
        issue, location = finding["issue"], finding["location"]
        if issue == "PRIVILEGE_ESCALATION" and role == DEPLOY:
            assert ast.literal_eval(location)["type"] in DEPLOY_ESCALATIONS, finding
        elif issue == "PERMISSIONS_MANAGEMENT_ACTIONS" and role == DEPLOY:
            assert ast.literal_eval(location)["actions"] == ["iam:passrole"], finding
        else:
            pytest.fail(f"{role}: {finding}")


def test_aws_settings_refuses_a_vantage_stage_and_leaves_the_file_alone(tmp_path: Any) -> None:
    """The hub's VPC, role and buckets must never be written into a vantage stage."""
    path = tmp_path / "zappa_settings.json"
    path.write_text((REPO / "zappa_settings.json").read_text())
    text = path.read_text()
    stage = vantages.stage_name(REGIONS[0])
    result = subprocess.run(
        [sys.executable, "-m", "ops.aws.settings", "--stage", stage, "--settings", str(path)],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "AWS_CONFIG_FILE": "/dev/null"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert f"stage '{stage}' is a NetProbe vantage: python -m ops.vantages sync" in result.stderr
    assert path.read_text() == text
