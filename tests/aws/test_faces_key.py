"""The faces gallery's KMS key (ops/aws/data.yaml's FacesKey): rotated, kept in production, used
by the stage's Lambda execution role (and production's EKS roles for Face_Comparison) and by
nothing broader; the execution role may use that one key and no other, for exactly what
modules/faces/gallery/keys.py calls."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pytest
import yaml

from tests.aws.support import template
from tests.aws.test_iam import (  # noqa: F401  the IAM stacks on moto, shared fixture
    ACCOUNT,
    FACES_KEY_IDS,
    OTHER,
    REGION,
    STAGES,
    IamStacks,
    as_list,
    stacks,
)
from tests.deploy.lambda_build import REPO

pytestmark = pytest.mark.nodb

# What keys.py calls: generate_data_key once, decrypt once per process. No kms:Encrypt.
USES = {"kms:GenerateDataKey", "kms:Decrypt"}
CLUSTER = yaml.safe_load((REPO / "ops" / "kubernetes_orchestration" / "cluster.yaml").read_text())


def key_arn(stage: str) -> str:
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{FACES_KEY_IDS[stage]}"


def kms_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        s for s in statements if any(a.lower().startswith("kms:") for a in as_list(s["Action"]))
    ]


def resolve(value: Any, stage: str, production: bool) -> Any:
    """The template's few intrinsics in the key policy, as CloudFormation resolves them."""
    if isinstance(value, dict) and "Fn::If" in value:
        _, yes, no = value["Fn::If"]
        return resolve(yes if production else no, stage, production)
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"]
        for name, sub in (
            ("${AWS::Partition}", "aws"),
            ("${AWS::AccountId}", ACCOUNT),
            ("${Stage}", stage),
        ):
            text = text.replace(name, sub)
        return text
    if isinstance(value, list):
        return [resolve(v, stage, production) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, stage, production) for k, v in value.items()}
    return value


@pytest.mark.parametrize("stage", STAGES)
def test_the_execution_role_may_use_its_stage_s_key_and_nothing_broader(
    stacks: IamStacks,  # noqa: F811
    stage: str,
) -> None:
    role = stacks.roles[f"portal-lambda-{stage}"]
    (statement,) = kms_statements(role.statements)
    assert statement["Effect"] == "Allow"
    assert set(as_list(statement["Action"])) == USES
    assert as_list(statement["Resource"]) == [key_arn(stage)]
    assert "Condition" not in statement
    # Not the other stage's key, not any key by pattern, and no grant or plain encryption.
    patterns = as_list(statement["Resource"])
    assert not any(fnmatchcase(key_arn(OTHER[stage]), p) for p in patterns)
    assert not any(fnmatchcase(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/other", p) for p in patterns)
    # The deploy role never touches the key.
    assert kms_statements(stacks.roles[f"portal-deploy-{stage}"].statements) == []


@pytest.mark.parametrize("stage", STAGES)
def test_the_key_policy_lets_the_account_administer_and_only_the_portal_roles_use_it(
    stage: str,
) -> None:
    resources = template("data")["Resources"]
    key = resources["FacesKey"]
    policy = resolve(key["Properties"]["KeyPolicy"], stage, stage == "production")
    root = f"arn:aws:iam::{ACCOUNT}:root"
    administer, use = policy["Statement"]
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"AWS": root}  # never "*", never another account
    admin_actions = set(administer["Action"])
    assert not admin_actions & {*USES, "kms:Encrypt", "kms:CreateGrant", "kms:ReEncrypt*"}
    assert not any("*" in action for action in admin_actions)
    assert {"kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:EnableKeyRotation"} <= admin_actions
    assert "Condition" not in administer

    assert set(use["Action"]) == USES
    users = {f"arn:aws:iam::{ACCOUNT}:role/portal-lambda-{stage}"}
    if stage == "production":  # the EKS roles of Face_Comparison (cluster.yaml)
        users |= {
            f"arn:aws:iam::{ACCOUNT}:role/{a['roleName']}"
            for a in CLUSTER["iam"]["podIdentityAssociations"]
            if any(
                "kms:Decrypt" in as_list(s["Action"])
                for s in a.get("permissionPolicy", {}).get("Statement", [])
            )
        }
        assert len(users) == 3
    (operator,) = use["Condition"]
    assert operator == "ArnEquals"
    (principals,) = use["Condition"]["ArnEquals"].items()
    assert principals[0] == "aws:PrincipalArn"
    assert set(principals[1]) == users


def test_the_key_rotates_has_its_alias_and_outlives_production_s_stack() -> None:
    resources = template("data")["Resources"]
    key = resources["FacesKey"]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == {"Fn::If": ["IsProduction", "Retain", "Delete"]}
    alias = resources["FacesKeyAlias"]["Properties"]
    assert alias == {
        "AliasName": {"Fn::Sub": "alias/portal-faces-${Stage}"},
        "TargetKeyId": {"Ref": "FacesKey"},
    }
    output = template("data")["Outputs"]["FacesKeyArn"]
    assert output["Value"] == {"Fn::GetAtt": ["FacesKey", "Arn"]}
    assert output["Export"]["Name"] == {"Fn::Sub": "portal-${Stage}-FacesKeyArn"}
