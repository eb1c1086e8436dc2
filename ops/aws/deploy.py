"""Create or update every stack of a stage, in the order of ops/aws/stacks.yaml.

    python -m ops.aws.deploy --stage dev [--region us-east-1] [--dry-run]

The same as `aws cloudformation deploy` once per stack (create, or update when it exists; an
unchanged stack is left alone), waiting for each before the next, since later stacks import
the earlier ones' exports. Then it applies the account's SNS SMS preferences. Rerunning it is
safe. The first run takes 15 to 25 minutes, most of it the Aurora cluster and CloudFront.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ops.aws.stacks import STAGES, Stack, StackConfigError, account_settings, plan, stack_outputs

CAPABILITIES = ["CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
WAIT = {"Delay": 10, "MaxAttempts": 360}  # up to an hour: CloudFront and Aurora are slow


def _exists(cloudformation: Any, name: str) -> bool:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except cloudformation.exceptions.ClientError as e:
        if "does not exist" in str(e):
            return False
        raise
    return bool(stacks) and stacks[0]["StackStatus"] != "REVIEW_IN_PROGRESS"


def _parameters(stack: Stack, outputs: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    values = dict(stack.parameters)
    for key, (concern, output) in stack.imports.items():
        try:
            values[key] = outputs[concern][output]
        except KeyError:
            raise StackConfigError(
                f"{stack.name}: parameter {key} needs output {output} of the {concern} stack"
            ) from None
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def deploy_stack(
    cloudformation: Any, stack: Stack, body: str, parameters: list[dict[str, str]]
) -> str:
    """Creates or updates one stack and waits for it; returns what happened."""
    common = {
        "StackName": stack.name,
        "TemplateBody": body,
        "Parameters": parameters,
        "Capabilities": CAPABILITIES,
        "Tags": [{"Key": "project", "Value": "portal"}],
    }
    if not _exists(cloudformation, stack.name):
        cloudformation.create_stack(**common, OnFailure="ROLLBACK")
        cloudformation.get_waiter("stack_create_complete").wait(
            StackName=stack.name, WaiterConfig=WAIT
        )
        return "created"
    try:
        cloudformation.update_stack(**common)
    except cloudformation.exceptions.ClientError as e:
        if "No updates are to be performed" in str(e):
            return "unchanged"
        raise
    cloudformation.get_waiter("stack_update_complete").wait(StackName=stack.name, WaiterConfig=WAIT)
    return "updated"


def apply_sms_preferences(sns: Any, preferences: dict[str, Any]) -> None:
    """SNS's SMS settings are per account and region, not CloudFormation resources."""
    if preferences:
        sns.set_sms_attributes(attributes={k: str(v) for k, v in preferences.items()})


def deploy(
    stage: str,
    *,
    cloudformation: Any,
    sns: Any,
    render: Callable[[Path], str] = Path.read_text,
    log: Callable[[str], object] = lambda line: sys.stdout.write(line + "\n"),
) -> dict[str, dict[str, str]]:
    """Every stack of the stage in order; returns each concern's outputs."""
    outputs: dict[str, dict[str, str]] = {}
    for stack in plan(stage):
        if not stack.template.exists():
            raise StackConfigError(f"{stack.name}: template {stack.template} is missing")
        result = deploy_stack(
            cloudformation, stack, render(stack.template), _parameters(stack, outputs)
        )
        outputs[stack.concern] = stack_outputs(cloudformation, stack.name)
        log(f"{stack.name}: {result}")
    apply_sms_preferences(sns, account_settings().get("sms", {}))
    log("SNS SMS preferences: applied")
    return outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stage", required=True, choices=STAGES)
    parser.add_argument("--region", help="default: the AWS CLI's configured region")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    args = parser.parse_args(argv)
    try:
        stacks = plan(args.stage)
        if args.dry_run:
            for stack in stacks:
                sys.stdout.write(
                    f"{stack.name}  {stack.template.name}  {stack.parameters} {stack.imports}\n"
                )
            return 0
        import boto3

        session = boto3.session.Session(region_name=args.region)
        deploy(
            args.stage,
            cloudformation=session.client("cloudformation"),
            sns=session.client("sns"),
        )
    except StackConfigError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
