"""The NetProbe vantage stages: one list of regions (ops/vantages.json) from which the Zappa
stages and the deploy workflow's matrix are derived, and a vantage stage that is production with
only NetProbe mounted in the vantage role, no database, no VPC, nothing running at rest."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ops import vantages
from tests.deploy.lambda_build import REPO, stage_settings
from tests.deploy.test_workflows import load, run_step, step

pytestmark = pytest.mark.nodb

LISTING = vantages.load_list()
REGIONS = LISTING["regions"]
SECRET_NAMES = ("SECRET", "PASSWORD", "TOKEN", "DATABASE_URL", "CACHE_URL")


def test_the_zappa_stages_are_exactly_the_listed_regions() -> None:
    raw = json.loads((REPO / "zappa_settings.json").read_text())
    assert vantages.differences(raw, LISTING) == []
    assert sorted(n for n in raw if n.startswith("vantage-")) == sorted(
        f"vantage-{r}" for r in REGIONS
    )


@pytest.mark.parametrize("region", REGIONS)
def test_a_vantage_stage_is_production_with_only_netprobe_in_the_vantage_role(region: str) -> None:
    settings = stage_settings(f"vantage-{region}")
    production = stage_settings("production")
    assert settings["extends"] == "production"
    assert settings["aws_region"] == region
    for same in ("runtime", "django_settings", "exclude", "binary_support", "timeout_seconds"):
        assert settings[same] == production[same], same
    env = settings["environment_variables"]
    assert env["NETPROBE_ROLE"] == "vantage"
    assert env["PORTAL_MODULES"] == "netprobe"
    assert env["DEBUG"] == "0"
    # Each warm instance keeps its own replay window (ops/README.md, "Vantages").
    assert env["NETPROBE_VANTAGE_REPLAY_STORE"] == "process"
    hosts = f".execute-api.{region}.amazonaws.com,.lambda-url.{region}.on.aws"
    assert env["ALLOWED_HOSTS"] == hosts
    # Nothing that needs the hub's database, buckets or dispatcher.
    for absent in ("DATABASE_URL", "CACHE_URL", "USE_S3_STORAGE", "SOS_WAKE", "SOS_EMAIL_BACKEND"):
        assert absent not in env, absent
    for key, value in env.items():
        assert not any(s in f"{key}={value}".upper() for s in SECRET_NAMES), key


@pytest.mark.parametrize("region", REGIONS)
def test_a_vantage_costs_nothing_at_rest(region: str) -> None:
    settings = stage_settings(f"vantage-{region}")
    assert settings["vpc_config"] == {}  # no VPC: no NAT gateway, no ENIs
    assert settings["events"] == []  # no schedule invokes it
    assert settings["keep_warm"] is False
    assert "provisioned_concurrency" not in settings
    assert settings["lambda_concurrency"] is None  # reserved concurrency is the hub's DB's
    assert settings["layers"] == []  # no face models
    assert settings["dead_letter_arn"] == ""


@pytest.mark.parametrize("region", REGIONS)
def test_a_vantage_gets_its_secrets_by_reference_from_its_region_s_file(region: str) -> None:
    settings = stage_settings(f"vantage-{region}")
    assert settings["remote_env"] == f"s3://portal-secrets-production/vantages/{region}.json"
    assert region in settings["s3_bucket"]  # Lambda reads the zip from its own region
    assert settings["role_name"] == "portal-lambda-vantage"


def test_check_finds_a_region_listed_but_not_synced_and_sync_writes_it(tmp_path: Path) -> None:
    listing = tmp_path / "vantages.json"
    listing.write_text(json.dumps({**LISTING, "regions": [*REGIONS, "ca-central-1"]}))
    settings = tmp_path / "zappa_settings.json"
    shutil.copy(REPO / "zappa_settings.json", settings)

    files = ("--list", str(listing), "--settings", str(settings))

    def run(action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ops.vantages", action, *files],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )

    before = run("check")
    synced = run("sync")
    after = run("check")

    assert before.returncode == 1
    assert "missing stage vantage-ca-central-1" in before.stdout
    assert synced.returncode == 0, synced.stderr
    assert (after.returncode, after.stdout) == (0, "")
    written = json.loads(settings.read_text())
    assert written["vantage-ca-central-1"]["aws_region"] == "ca-central-1"
    original = json.loads((REPO / "zappa_settings.json").read_text())
    assert {k: v for k, v in written.items() if k != "vantage-ca-central-1"} == original


def test_a_removed_region_s_stage_is_reported_and_dropped(tmp_path: Path) -> None:
    raw = json.loads((REPO / "zappa_settings.json").read_text())
    shorter = {**LISTING, "regions": REGIONS[:1]}

    problems = vantages.differences(raw, shorter)
    kept = vantages.synced(raw, shorter)

    assert problems == [f"stage vantage-{r} is not in ops/vantages.json" for r in REGIONS[1:]]
    assert [n for n in kept if n.startswith("vantage-")] == [f"vantage-{REGIONS[0]}"]


@pytest.mark.parametrize("bad", [[], ["eu-west-1", "eu-west-1"], ["Europe"], ["eu-west-1; rm"]])
def test_a_malformed_list_stops_with_exit_2(tmp_path: Path, bad: list[str]) -> None:
    listing = tmp_path / "vantages.json"
    listing.write_text(json.dumps({**LISTING, "regions": bad}))
    done = subprocess.run(
        [sys.executable, "-m", "ops.vantages", "matrix", "--list", str(listing)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "regions" in done.stderr or "region" in done.stderr
    assert done.stdout == ""


def test_the_workflow_deploys_the_listed_regions_after_the_hub(tmp_path: Path) -> None:
    workflow = load("deploy.yml")
    regions_job, deploy_job = workflow["jobs"]["vantage-regions"], workflow["jobs"]["vantages"]
    result, outputs = run_step(
        step(workflow, "Regions and role", "vantage-regions")["run"],
        tmp_path,
        {"ROLE": "arn:aws:iam::1:role/portal-deploy-vantages"},
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(outputs["matrix"]) == vantages.matrix(LISTING)
    assert [i["region"] for i in json.loads(outputs["matrix"])["include"]] == REGIONS
    assert outputs["role"] == "arn:aws:iam::1:role/portal-deploy-vantages"
    assert regions_job["needs"] == ["gate", "deploy"]  # after the hub
    assert regions_job["if"] == "needs.gate.outputs.stage == 'production'"
    assert deploy_job["strategy"]["matrix"] == (
        "${{ fromJSON(needs.vantage-regions.outputs.matrix) }}"
    )
    assert deploy_job["env"]["STAGE"] == "${{ matrix.stage }}"
    assert deploy_job["env"]["AWS_REGION"] == "${{ matrix.region }}"
    scripts = "\n".join(s.get("run", "") for s in deploy_job["steps"])
    assert 'zappa package "$STAGE"' in scripts
    assert 'python ops/serverless/bytecode.py "dist/portal-$STAGE.zip"' in scripts
    assert "migrate" not in scripts  # a vantage has no database


def test_the_workflow_stops_without_the_vantage_role_or_with_unsynced_stages(
    tmp_path: Path,
) -> None:
    script = step(load("deploy.yml"), "Regions and role", "vantage-regions")["run"]
    no_role, no_role_outputs = run_step(script, tmp_path, {"ROLE": ""})

    assert no_role.returncode == 1
    assert "AWS_DEPLOY_ROLE_ARN_VANTAGES is not set" in no_role.stdout
    assert no_role_outputs == {}
    assert script.index("ops.vantages check") < script.index("ops.vantages matrix")


@pytest.mark.parametrize("bucket_exists", [True, False])
def test_the_upload_step_puts_the_zip_in_the_region_s_own_bucket(
    tmp_path: Path, bucket_exists: bool
) -> None:
    region = REGIONS[0]
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    head = "exit 0" if bucket_exists else "exit 254"
    (bin_dir / "aws").write_text(
        f'#!/bin/sh\necho "aws $*" >> {calls}\n'
        f'[ "$1 $2" = "s3api head-bucket" ] && {head}\nexit 0\n'
    )
    (bin_dir / "aws").chmod(0o755)
    result, outputs = run_step(
        step(load("deploy.yml"), "Upload the package", "vantages")["run"],
        tmp_path,
        {
            "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
            "STAGE": f"vantage-{region}",
            "SHA": "0123abc",
            "AWS_REGION": region,
        },
    )

    assert result.returncode == 0, result.stdout + result.stderr
    bucket = f"portal-zappa-deployments-vantage-{region}"
    key = f"portal-vantage-{region}-0123abc.zip"
    assert outputs == {"package": f"s3://{bucket}/{key}"}
    made = f"aws s3 mb s3://{bucket} --region {region}"
    assert (made in calls.read_text()) is not bucket_exists
    assert f"aws s3 cp --only-show-errors dist/portal-vantage-{region}.zip s3://{bucket}/{key}" in (
        calls.read_text()
    )
    update = step(load("deploy.yml"), "Update (or first deploy)", "vantages")
    assert update["env"]["PACKAGE"] == "${{ steps.upload.outputs.package }}"
    assert 'zappa update "$STAGE" -z "$PACKAGE"' in update["run"]


def vantage_process_env(region: str, **extra: str) -> dict[str, str]:
    """The stage's environment as Lambda gives it, plus its remote_env secrets; no database."""
    env = stage_settings(f"vantage-{region}")["environment_variables"]
    return {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "DOTENV": "0",
        "AWS_LAMBDA_FUNCTION_NAME": f"portal-vantage-{region}",
        **env,
        "SECRET_KEY": "vantage-" + "k" * 50,
        "NETPROBE_VANTAGE_SECRET": "s" * 40,
        **extra,
    }


VANTAGE_PROCESS = """
import django, json
django.setup()
from django.db import connections
from django.test import Client
client = Client(HTTP_HOST="abc.execute-api.{region}.amazonaws.com")
codes = {{path: client.get(path).status_code for path in
         ("/healthz", "/admin/", "/api/netprobe/probes/", "/netprobe/")}}
codes["/vantage/v1/health"] = client.post("/vantage/v1/health").status_code
print(json.dumps({{"codes": codes, "db_used": connections["default"].connection is not None}}))
"""


@pytest.mark.parametrize("region", REGIONS[:1])
def test_the_stage_s_settings_start_a_vantage_without_a_database(
    region: str, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-dir" / "db.sqlite3"  # a database it could not even create
    done = subprocess.run(
        [sys.executable, "-c", VANTAGE_PROCESS.format(region=region)],
        cwd=REPO,
        env=vantage_process_env(
            region, DJANGO_SETTINGS_MODULE="portal.settings", DATABASE_URL=f"sqlite:///{missing}"
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    codes = answer["codes"]
    assert codes["/healthz"] == 200
    assert codes["/vantage/v1/health"] == 401  # mounted, and refuses an unsigned request
    assert codes["/admin/"] == codes["/api/netprobe/probes/"] == codes["/netprobe/"] == 404
    assert answer["db_used"] is False
    assert not missing.parent.exists()


def test_the_ops_readme_shows_the_per_probe_cost_the_prices_file_gives() -> None:
    text = (REPO / "ops" / "README.md").read_text()
    for line in vantages.cost_table():
        assert line in text, f"ops/README.md is out of date (python -m ops.vantages cost): {line}"
    cost = vantages.probe_cost(memory_mb=1024, duration_s=1.0, transfer_bytes=2**30)
    assert cost == {
        "lambda_request": pytest.approx(0.0000002),
        "lambda_duration": pytest.approx(0.0000166667),
        "api_gateway": pytest.approx(0.0000035),
        "data_out": pytest.approx(0.09),
    }
