"""Writes the stacks' outputs into zappa_settings.json for one stage, so nobody copies an ARN.

    python -m ops.aws.settings --stage dev [--zappa-stage dev] [--settings zappa_settings.json]
    make aws-settings STAGE=dev

It reads the outputs of portal-<stage>-{network,storage,data,operations,iam} and the newest version
of the stage's own layer `portal-face-models-<stage>`, and sets in the Zappa stage: `vpc_config`,
`role_name`, `role_arn`, `s3_bucket`, `remote_env`, `dead_letter_arn`, `lambda_concurrency`
(Zappa's name for reserved concurrency), `layers` (only where the stage has layers: an image
stage has none) and the environment's bucket names, static domain and FACES_KMS_KEY_ID (the
faces gallery's KMS key: production refuses gallery calls without a key). A stage that `extends`
another gets only what differs from it. A missing stage, stack, output or layer stops it with a
message naming it, exit status 2, the file untouched; so does a NetProbe vantage stage
(`python -m ops.vantages sync` writes those).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ops.aws.stacks import STAGES, StackConfigError, plan, stack_outputs
from ops.vantages import STAGE_PREFIX as VANTAGE_PREFIX

REPO = Path(__file__).resolve().parents[2]
SETTINGS_FILE = REPO / "zappa_settings.json"
# One layer per stage (only its own deploy role publishes to it): ops/serverless/models_layer.py.
LAYER_NAME = "portal-face-models-{stage}"
LAYER_MARKER = ":layer:portal-face-models"  # the stage's layer, or the shared one it replaced
# (concern, output) this script needs
NEEDED = {
    "network": ("PrivateSubnetIds", "LambdaSecurityGroupId"),
    "storage": (
        "DeploymentBucketName",
        "StaticBucketName",
        "StaticDomainName",
        "MediaBucketName",
        "RemoteEnvBucketName",
    ),
    "data": ("FacesKeyArn",),
    "operations": ("DeadLetterQueueArn", "ReservedConcurrency"),
    "iam": ("ExecutionRoleName", "ExecutionRoleArn"),
}
# Where a key the stage did not have goes: after the first of these it has, in this order.
PLACEMENT = (
    "s3_bucket",
    "role_name",
    "role_arn",
    "remote_env",
    "dead_letter_arn",
    "lambda_concurrency",
    "vpc_config",
    "layers",
)


def read_outputs(aws_stage: str, cloudformation: Any) -> dict[str, dict[str, str]]:
    stacks = {stack.concern: stack.name for stack in plan(aws_stage)}
    outputs: dict[str, dict[str, str]] = {}
    for concern, names in NEEDED.items():
        found = stack_outputs(cloudformation, stacks[concern])
        for name in names:
            if name not in found:
                raise StackConfigError(f"stack {stacks[concern]} has no output {name}")
        outputs[concern] = found
    return outputs


def latest_layer_arn(lambda_client: Any, aws_stage: str) -> str:
    name = LAYER_NAME.format(stage=aws_stage)
    versions = lambda_client.list_layer_versions(LayerName=name).get("LayerVersions", [])
    if not versions:
        raise StackConfigError(
            f"no version of layer {name}: run ops/serverless/models_layer.py publish first"
        )
    return max(versions, key=lambda v: v["Version"])["LayerVersionArn"]


def stacks_stage(raw: dict[str, Any], stage: str) -> str:
    """The stage whose stacks a Zappa stage runs on: itself, or the nearest it extends."""
    while stage not in STAGES and raw.get(stage, {}).get("extends"):
        stage = raw[stage]["extends"]
    return stage


def resolve(raw: dict[str, Any], stage: str) -> dict[str, Any]:
    """A stage's settings as Zappa reads them: `extends` is a shallow merge."""
    own = raw[stage]
    parent = own.get("extends")
    return {**(resolve(raw, parent) if parent else {}), **own}


def desired(
    aws_stage: str, outputs: dict[str, dict[str, str]], current: dict[str, Any], layer: str | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """(top-level settings, environment variables) the stacks say this stage should have."""
    network, storage = outputs["network"], outputs["storage"]
    key = current.get("remote_env", "").removeprefix("s3://").partition("/")[2]
    settings: dict[str, Any] = {
        "s3_bucket": storage["DeploymentBucketName"],
        "role_name": outputs["iam"]["ExecutionRoleName"],
        "role_arn": outputs["iam"]["ExecutionRoleArn"],
        "remote_env": f"s3://{storage['RemoteEnvBucketName']}/{key or f'portal-{aws_stage}.json'}",
        "dead_letter_arn": outputs["operations"]["DeadLetterQueueArn"],
        "lambda_concurrency": int(outputs["operations"]["ReservedConcurrency"]),
        "vpc_config": {
            "SubnetIds": network["PrivateSubnetIds"].split(","),
            "SecurityGroupIds": [network["LambdaSecurityGroupId"]],
        },
    }
    if layer is not None:
        others = [arn for arn in current.get("layers", []) if LAYER_MARKER not in arn]
        settings["layers"] = [layer, *others]
    env = {
        "AWS_STORAGE_BUCKET_NAME": storage["StaticBucketName"],
        "AWS_MEDIA_BUCKET_NAME": storage["MediaBucketName"],
        "AWS_S3_CUSTOM_DOMAIN": storage["StaticDomainName"],
        # The key's ARN, not its alias: the execution role may use exactly this key.
        "FACES_KMS_KEY_ID": outputs["data"]["FacesKeyArn"],
    }
    return settings, env


def _place(own: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    if key in own or key not in PLACEMENT:
        return {**own, key: value}
    anchors = [k for k in PLACEMENT[: PLACEMENT.index(key)] if k in own]
    if not anchors:
        return {**own, key: value}
    result: dict[str, Any] = {}
    for existing, existing_value in own.items():
        result[existing] = existing_value
        if existing == anchors[-1]:
            result[key] = value
    return result


def apply(
    raw: dict[str, Any], stage: str, settings: dict[str, Any], env: dict[str, str]
) -> list[str]:
    """Updates raw[stage] in place with what differs from what it inherits; returns the keys."""
    own = raw[stage]
    parent = resolve(raw, own["extends"]) if own.get("extends") else {}
    changed: list[str] = []
    for key, value in settings.items():
        inherited = own.get(key, parent.get(key))
        if inherited != value:
            own = _place(own, key, value)
            changed.append(key)
    current_env = own.get("environment_variables", parent.get("environment_variables", {}))
    if any(current_env.get(k) != v for k, v in env.items()):
        own = _place(own, "environment_variables", {**current_env, **env})
        changed += [f"environment_variables.{k}" for k, v in env.items() if current_env.get(k) != v]
    raw[stage] = own
    return changed


def refuse_vantage(stage: str) -> None:
    """A vantage stage extends production but runs on none of its stacks: the hub's VPC, role and
    buckets written into it would undo ops/aws/vantages-iam.yaml's boundary."""
    if stage.startswith(VANTAGE_PREFIX):
        raise StackConfigError(
            f"stage {stage!r} is a NetProbe vantage: python -m ops.vantages sync writes it"
        )


def write_settings(
    stage: str,
    *,
    aws_stage: str | None = None,
    settings_file: Path = SETTINGS_FILE,
    cloudformation: Any,
    lambda_client: Any,
) -> list[str]:
    """Reads everything first and writes the file only when nothing is missing."""
    raw = json.loads(settings_file.read_text())
    if stage not in raw:
        raise StackConfigError(f"stage {stage!r} is not in {settings_file}")
    refuse_vantage(stage)
    aws_stage = aws_stage or stacks_stage(raw, stage)
    if aws_stage not in STAGES:
        raise StackConfigError(
            f"stage {aws_stage!r} has no stacks: pass --aws-stage ({' or '.join(STAGES)})"
        )
    outputs = read_outputs(aws_stage, cloudformation)
    current = resolve(raw, stage)
    layer = latest_layer_arn(lambda_client, aws_stage) if current.get("layers") else None
    settings, env = desired(aws_stage, outputs, current, layer)
    changed = apply(raw, stage, settings, env)
    if changed:
        settings_file.write_text(json.dumps(raw, indent=4, ensure_ascii=False) + "\n")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stage", required=True, help="the Zappa stage to write")
    parser.add_argument(
        "--aws-stage", help="whose stacks to read (default: the stage or the one it extends)"
    )
    parser.add_argument("--settings", type=Path, default=SETTINGS_FILE)
    parser.add_argument("--region", help="default: the AWS CLI's configured region")
    args = parser.parse_args(argv)
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if args.stage not in json.loads(args.settings.read_text()):  # before asking AWS anything
            raise StackConfigError(f"stage {args.stage!r} is not in {args.settings}")
        refuse_vantage(args.stage)
        session = boto3.session.Session(region_name=args.region)
        changed = write_settings(
            args.stage,
            aws_stage=args.aws_stage,
            settings_file=args.settings,
            cloudformation=session.client("cloudformation"),
            lambda_client=session.client("lambda"),
        )
    except StackConfigError as e:
        sys.stderr.write(f"error: {e}; {args.settings} is unchanged\n")
        return 2
    except (BotoCoreError, ClientError) as e:  # no credentials or region, access denied, ...
        sys.stderr.write(f"error: AWS refused to answer: {e}; {args.settings} is unchanged\n")
        return 2
    summary = ", ".join(changed) or "already up to date"
    sys.stdout.write(f"{args.settings} [{args.stage}]: {summary}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
