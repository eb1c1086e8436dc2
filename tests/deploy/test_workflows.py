"""The GitHub Actions workflows: actionlint (with shellcheck on the run scripts when the machine
has it) passes, they do what the deployment needs, and their inline scripts work."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.lambda_build import REPO, build_package

pytestmark = pytest.mark.nodb

WORKFLOWS = REPO / ".github" / "workflows"
ACTIONLINT = Path(sys.executable).with_name("actionlint")


def load(name: str) -> dict[str, Any]:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the `on:` key as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def step(workflow: dict[str, Any], name: str) -> dict[str, Any]:
    steps = workflow["jobs"]["deploy"]["steps"]
    return next(s for s in steps if s.get("name", "").startswith(name))


def heredoc(script: str) -> str:
    match = re.search(r"<<'EOF'[^\n]*\n(.*?)\n\s*EOF\n", script, re.S)
    assert match, script
    return textwrap.dedent(match.group(1))


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_actionlint_passes(name: str) -> None:
    result = subprocess.run(
        [str(ACTIONLINT), "-no-color", str(WORKFLOWS / name)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_catch_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        (WORKFLOWS / "deploy.yml")
        .read_text()
        .replace("${{ vars.AWS_DEPLOY_ROLE_ARN }}", "${{ vars.AWS_DEPLOY_ROLE_ARN }")
    )
    result = subprocess.run(
        [str(ACTIONLINT), "-no-color", str(broken)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0


def test_ci_runs_the_suite_on_python_312_with_postgresql() -> None:
    ci = load("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"}
    job = ci["jobs"]["test"]
    assert job["services"]["postgres"]["image"].startswith("postgres:")
    assert job["env"]["CI_DATABASE_URL"].startswith("postgres://")
    setup = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/setup-py"))
    assert setup["with"]["python-version"] == "3.12"
    assert any(s.get("run") == ".ci/run" for s in job["steps"])
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_deploy_runs_dev_on_main_and_production_on_a_release() -> None:
    deploy = load("deploy.yml")
    assert deploy["on"] == {"push": {"branches": ["main"]}, "release": {"types": ["published"]}}
    job = deploy["jobs"]["deploy"]
    stage = "${{ github.event_name == 'release' && 'production' || 'dev' }}"
    assert job["environment"]["name"] == stage
    assert job["env"]["STAGE"] == stage
    assert job["concurrency"] == {"group": f"deploy-{stage}", "cancel-in-progress": False}


def test_deploy_gets_aws_credentials_by_oidc() -> None:
    deploy = load("deploy.yml")
    assert deploy["permissions"]["id-token"] == "write"
    credentials = next(
        s
        for s in deploy["jobs"]["deploy"]["steps"]
        if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")
    )
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert "aws-access-key-id" not in credentials["with"]
    text = (WORKFLOWS / "deploy.yml").read_text()
    assert "secrets." not in text  # no long-lived AWS keys anywhere


def test_deploy_updates_or_deploys_then_migrates_and_collects_static() -> None:
    deploy = load("deploy.yml")
    scripts = "\n".join(s.get("run", "") for s in deploy["jobs"]["deploy"]["steps"])
    update = scripts.index('zappa update "$STAGE"')
    assert 'zappa deploy "$STAGE"' in scripts
    migrate = scripts.index('zappa manage "$STAGE" migrate')
    collect = scripts.index('zappa manage "$STAGE" "collectstatic --noinput"')
    assert update < migrate < collect


@pytest.mark.parametrize(("stage", "bucket"), [("dev", "dev"), ("production", "production")])
def test_the_stage_settings_script_reads_bucket_and_function(
    tmp_path: Path, stage: str, bucket: str
) -> None:
    script = heredoc(step(load("deploy.yml"), "Stage settings")["run"])
    output = tmp_path / "out"
    subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**os.environ, "STAGE": stage},
        stdout=output.open("w"),
        check=True,
    )
    values = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert values == {"bucket": f"portal-zappa-deployments-{bucket}", "function": f"portal-{stage}"}


@pytest.mark.slow
def test_the_package_step_writes_the_size_to_the_job_summary(tmp_path: Path) -> None:
    package = build_package("production")
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "portal-production.zip").symlink_to(package.zip_path)
    summary = tmp_path / "summary.md"
    script = heredoc(step(load("deploy.yml"), "Package")["run"])
    subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "STAGE": "production", "GITHUB_STEP_SUMMARY": str(summary)},
        check=True,
    )
    text = summary.read_text()
    zipped, unzipped = package.zipped_bytes / 2**20, package.unzipped_bytes / 2**20
    assert f"| {zipped:.1f} MiB | {unzipped:.1f} MiB | 160 MiB |" in text
