"""The NetProbe vantage regions: one list (ops/vantages.json), everything else derived from it.

    python -m ops.vantages sync     write a Zappa stage vantage-<region> per listed region into
                                    zappa_settings.json (and drop the stages of regions removed)
    python -m ops.vantages check    exit 1 when zappa_settings.json disagrees with the list
    python -m ops.vantages matrix   print `matrix=<json>` for the deploy workflow's GITHUB_OUTPUT
    python -m ops.vantages cost     print what one probe at a vantage costs, item by item
    python -m ops.vantages bucket --stage vantage-<region>   print that stage's deployment bucket

A vantage stage is the production stage with only NetProbe mounted in the vantage role: no
database, no VPC (no NAT gateway to pay for at rest), no face-model layer, no scheduled events,
no reserved concurrency (that is sized to the hub's database). Its secrets (SECRET_KEY and
NETPROBE_VANTAGE_SECRET) come as every stage's do, by reference: Zappa's remote_env, a JSON
object in the production secrets bucket, one per region.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LIST_FILE = REPO / "ops" / "vantages.json"
SETTINGS_FILE = REPO / "zappa_settings.json"
STAGE_PREFIX = "vantage-"
REGION = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-\d")
SECRETS_BUCKET = "portal-secrets-production"


class VantageListError(ValueError):
    pass


def load_list(path: Path = LIST_FILE) -> dict[str, Any]:
    data = json.loads(path.read_text())
    regions = data.get("regions")
    if not isinstance(regions, list) or not regions:
        raise VantageListError(f"{path.name}: `regions` must be a non-empty list")
    for region in regions:
        if not isinstance(region, str) or not REGION.fullmatch(region):
            raise VantageListError(f"{path.name}: {region!r} is not an AWS region name")
    if len(set(regions)) != len(regions):
        raise VantageListError(f"{path.name}: a region is listed twice")
    return data


def regions(path: Path = LIST_FILE) -> list[str]:
    return list(load_list(path)["regions"])


def stage_name(region: str) -> str:
    return f"{STAGE_PREFIX}{region}"


def stage_config(region: str, listing: dict[str, Any]) -> dict[str, Any]:
    """The Zappa stage of one region; `extends` supplies the runtime, packaging and excludes."""
    return {
        "extends": listing["extends"],
        "aws_region": region,
        "lambda_description": f"Portal NetProbe vantage ({region})",
        # Zappa uploads the zip to this bucket and Lambda reads it from there: same region.
        "s3_bucket": f"portal-zappa-deployments-vantage-{region}",
        # ops/aws/vantages-iam.yaml's execution role; its deploy role cannot create roles.
        "role_name": "portal-lambda-vantage",
        "manage_roles": False,
        "remote_env": f"s3://{SECRETS_BUCKET}/vantages/{region}.json",
        # A full vCPU, so the vantage's own CPU time (TLS handshakes) stays out of its timings.
        "memory_size": listing.get("memory_size", 1769),
        "layers": [],
        "events": [],
        "vpc_config": {},
        "dead_letter_arn": "",
        "lambda_concurrency": None,
        "environment_variables": {
            "DEBUG": "0",
            "PORTAL_MODULES": "netprobe",
            "NETPROBE_ROLE": "vantage",
            "NETPROBE_SCHEDULER": "off",
            # Each warm instance remembers replays on its own (ops/README.md, "Vantages");
            # CACHE_URL=redis://... in the stage's remote env makes the window global.
            "NETPROBE_VANTAGE_REPLAY_STORE": "process",
            "ALLOWED_HOSTS": f".execute-api.{region}.amazonaws.com,.lambda-url.{region}.on.aws",
            "NUM_PROXIES": "2",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "info",
            "SECURE_HSTS_SECONDS": "31536000",
        },
    }


def expected_stages(listing: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {stage_name(r): stage_config(r, listing) for r in listing["regions"]}


def synced(raw: dict[str, Any], listing: dict[str, Any]) -> dict[str, Any]:
    """`raw` (zappa_settings.json) with exactly the listed vantage stages, after the others."""
    others = {name: stage for name, stage in raw.items() if not name.startswith(STAGE_PREFIX)}
    if listing["extends"] not in others:
        raise VantageListError(f"vantages extend {listing['extends']!r}, which is not a stage")
    return {**others, **expected_stages(listing)}


def differences(raw: dict[str, Any], listing: dict[str, Any]) -> list[str]:
    """What `sync` would change, one line per stage; empty when they agree."""
    expected = expected_stages(listing)
    present = {name: stage for name, stage in raw.items() if name.startswith(STAGE_PREFIX)}
    lines = [f"missing stage {name}" for name in expected if name not in present]
    lines += [
        f"stage {name} is not in ops/vantages.json" for name in present if name not in expected
    ]
    lines += [
        f"stage {name} differs from what ops/vantages.json makes of it"
        for name in expected
        if name in present and present[name] != expected[name]
    ]
    return lines


def matrix(listing: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    return {"include": [{"region": r, "stage": stage_name(r)} for r in listing["regions"]]}


# What one probe at a vantage costs on Lambda (ops/README.md, "Vantages"): an http probe of a
# site ~300 ms away plus the vantage's own work, and what leaves AWS for it: the answer to the
# hub (~3 KB with the default 2 KB body excerpt) and the request to the target.
TYPICAL_PROBE_S = 0.4
TYPICAL_TRANSFER_BYTES = 4096


def probe_cost(
    *, memory_mb: int, duration_s: float, transfer_bytes: int, book: Any = None
) -> dict[str, float]:
    """USD per probe, by item, at list prices (portal/finops/prices.json, first tiers)."""
    from portal.finops.prices import load_prices

    book = book or load_prices()
    gb_seconds = memory_mb / 1024 * duration_s
    return {
        "lambda_request": book["lambda_request"].value,
        "lambda_duration": gb_seconds * book["lambda_gb_second"].value,
        "api_gateway": book["apigw_rest_request"].value,
        "data_out": transfer_bytes / 2**30 * book["data_transfer_out_gb"].value,
    }


def cost_table(listing: dict[str, Any] | None = None) -> list[str]:
    """The per-probe arithmetic as Markdown table rows (ops/README.md embeds them)."""
    from portal.finops.prices import load_prices

    book = load_prices()
    memory = int((listing or load_list()).get("memory_size", 1769))
    cost = probe_cost(
        memory_mb=memory,
        duration_s=TYPICAL_PROBE_S,
        transfer_bytes=TYPICAL_TRANSFER_BYTES,
        book=book,
    )
    gb_s = memory / 1024 * TYPICAL_PROBE_S
    total = sum(cost.values())
    gb_second = book["lambda_gb_second"].value
    return [
        "| item | arithmetic | USD per probe |",
        "| --- | --- | --- |",
        f"| Lambda request | 1 x ${book['lambda_request'].value * 1e6:.2f} per million "
        f"| {cost['lambda_request']:.10f} |",
        f"| Lambda duration | {memory} MB / 1024 x {TYPICAL_PROBE_S} s = {gb_s:.4f} GB-s "
        f"x ${gb_second:.10f} per GB-s | {cost['lambda_duration']:.10f} |",
        f"| API Gateway (REST) | 1 x ${book['apigw_rest_request'].value * 1e6:.2f} per million "
        f"| {cost['api_gateway']:.10f} |",
        f"| Data out | {TYPICAL_TRANSFER_BYTES // 1024} KiB x "
        f"${book['data_transfer_out_gb'].value} per GB | {cost['data_out']:.10f} |",
        f"| **total** | ${total * 1e6:.2f} per million probes | **{total:.10f}** |",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.vantages", description=__doc__.split("\n")[0]
    )
    parser.add_argument("action", choices=("sync", "check", "matrix", "cost", "bucket"))
    parser.add_argument("--stage", help="with bucket: the vantage stage")
    parser.add_argument("--list", type=Path, default=LIST_FILE)
    parser.add_argument("--settings", type=Path, default=SETTINGS_FILE)
    args = parser.parse_args(argv)
    try:
        listing = load_list(args.list)
        if args.action == "bucket":
            raw = json.loads(args.settings.read_text())
            if args.stage not in expected_stages(listing) or args.stage not in raw:
                raise VantageListError(f"{args.stage!r} is not a vantage stage of the list")
            sys.stdout.write(raw[args.stage]["s3_bucket"] + "\n")
            return 0
        if args.action == "cost":
            sys.stdout.write("\n".join(cost_table(listing)) + "\n")
            return 0
        if args.action == "matrix":
            sys.stdout.write(f"matrix={json.dumps(matrix(listing), separators=(',', ':'))}\n")
            return 0
        raw = json.loads(args.settings.read_text())
        if args.action == "check":
            problems = differences(raw, listing)
            for line in problems:
                sys.stdout.write(f"{args.settings.name}: {line} (python -m ops.vantages sync)\n")
            return 1 if problems else 0
        updated = synced(raw, listing)
    except (VantageListError, json.JSONDecodeError, OSError) as exc:
        sys.stderr.write(f"ops.vantages: {exc}\n")
        return 2
    if updated != raw or list(updated) != list(raw):
        args.settings.write_text(json.dumps(updated, indent=4, ensure_ascii=False) + "\n")
        names = ", ".join(map(stage_name, listing["regions"]))
        sys.stdout.write(f"{args.settings.name}: vantage stages {names}\n")
    else:
        sys.stdout.write(f"{args.settings.name}: already in sync\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
