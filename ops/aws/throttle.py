"""API Gateway stage throttling for a Zappa stage, from the operations stack's outputs.

    python -m ops.aws.throttle --stage production [--aws-stage production] [--region ...]

Zappa creates and owns the REST API (`portal-<stage>`, stage `<stage>`), so no stack of ours
can hold it; this sets the stage's default method throttling (`/*/*/throttling/rateLimit` and
`burstLimit`) to ApiThrottlingRateLimit and ApiThrottlingBurstLimit of portal-<stage>-operations.
Requests over the limit get 429 from API Gateway before they reach the function: a flood cannot
run up the bill or take all of the reserved concurrency. Run it after every `zappa deploy` and
`zappa update` (idempotent); it prints what it set. Exit status 2 when the API or an output is
missing.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ops.aws.stacks import STAGES, StackConfigError, plan, stack_outputs


def find_rest_api(apigateway: Any, name: str) -> str:
    ids = [
        api["id"]
        for page in apigateway.get_paginator("get_rest_apis").paginate()
        for api in page["items"]
        if api["name"] == name
    ]
    if len(ids) != 1:
        raise StackConfigError(f"expected one REST API named {name}, found {len(ids)}")
    return ids[0]


def limits(cloudformation: Any, aws_stage: str) -> tuple[float, int]:
    name = next(s.name for s in plan(aws_stage) if s.concern == "operations")
    outputs = stack_outputs(cloudformation, name)
    try:
        return float(outputs["ApiThrottlingRateLimit"]), int(outputs["ApiThrottlingBurstLimit"])
    except KeyError as e:
        raise StackConfigError(f"stack {name} has no output {e.args[0]}") from None


def throttle(
    stage: str, *, aws_stage: str, cloudformation: Any, apigateway: Any, project: str = "portal"
) -> tuple[str, float, int]:
    """Sets the stage's throttling; returns (rest api id, rate, burst)."""
    rate, burst = limits(cloudformation, aws_stage)
    api_id = find_rest_api(apigateway, f"{project}-{stage}")
    apigateway.update_stage(
        restApiId=api_id,
        stageName=stage,
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": str(rate)},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": str(burst)},
        ],
    )
    return api_id, rate, burst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--stage", required=True, help="the Zappa stage (its API is portal-<stage>)"
    )
    parser.add_argument("--aws-stage", choices=STAGES, help="whose stacks (default: --stage)")
    parser.add_argument("--region", help="default: the AWS CLI's configured region")
    args = parser.parse_args(argv)
    aws_stage = args.aws_stage or args.stage
    try:
        if aws_stage not in STAGES:
            raise StackConfigError(f"stage {aws_stage!r} has no stacks: pass --aws-stage")
        import boto3

        session = boto3.session.Session(region_name=args.region)
        api_id, rate, burst = throttle(
            args.stage,
            aws_stage=aws_stage,
            cloudformation=session.client("cloudformation"),
            apigateway=session.client("apigateway"),
        )
    except StackConfigError as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    sys.stdout.write(f"{api_id} stage {args.stage}: {rate:g} requests/s, burst {burst}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
