"""The GitHub Actions workflows: actionlint (with shellcheck on the run scripts when the machine
has it) passes, every action is pinned by commit SHA, a deploy runs only for a commit whose CI
passed, each stage assumes its own role, and the inline scripts work."""

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

from tests.deploy.lambda_build import REPO, build_package, stage_settings

pytestmark = pytest.mark.nodb

WORKFLOWS = REPO / ".github" / "workflows"
ACTIONLINT = Path(sys.executable).with_name("actionlint")


def load(name: str) -> dict[str, Any]:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the `on:` key as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def step(workflow: dict[str, Any], name: str, job: str = "deploy") -> dict[str, Any]:
    steps = workflow["jobs"][job]["steps"]
    return next(s for s in steps if s.get("name", "").startswith(name))


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith(f"{action}@")]


def run_step(
    script: str, tmp_path: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    """Runs a step's script as the runner does (bash -e), returns it and its GITHUB_OUTPUT."""
    output = tmp_path / "github_output"
    output.touch()
    result = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=REPO,
        env={
            **os.environ,
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result, dict(line.split("=", 1) for line in output.read_text().splitlines())


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
        .replace("${{ needs.gate.outputs.role }}", "${{ needs.gate.outputs.role }")
    )
    result = subprocess.run(
        [str(ACTIONLINT), "-no-color", str(broken)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0


def test_ci_runs_the_suite_on_python_312_with_postgresql() -> None:
    ci = load("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request", "release"}
    assert ci["on"]["release"] == {"types": ["published"]}  # production's CI (deploy.yml)
    job = ci["jobs"]["test"]
    assert job["services"]["postgres"]["image"].startswith("postgres:")
    assert job["env"]["CI_DATABASE_URL"].startswith("postgres://")
    setup = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/setup-py"))
    assert setup["with"]["python-version"] == "3.12"
    assert any(s.get("run") == ".ci/run" for s in job["steps"])
    assert "make test" in (REPO / ".ci" / "run").read_text()


DEPLOY_JOBS = ("deploy", "image")
FULL_SHA = re.compile(r"^\s*(?:- )?uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_every_action_is_pinned_by_a_full_commit_sha_with_its_version(name: str) -> None:
    lines = [line for line in (WORKFLOWS / name).read_text().splitlines() if "uses:" in line]
    assert lines
    for line in lines:
        assert FULL_SHA.match(line), line


def test_deploy_runs_only_for_a_commit_whose_ci_passed() -> None:
    assert load("ci.yml")["name"] == "CI"
    deploy = load("deploy.yml")
    assert deploy["on"] == {"workflow_run": {"workflows": ["CI"], "types": ["completed"]}}
    gate = " ".join(deploy["jobs"]["gate"]["if"].split())
    run = "github.event.workflow_run"
    assert f"{run}.conclusion == 'success' &&" in gate
    assert f"{run}.head_repository.full_name == github.repository" in gate
    assert f"({run}.event == 'push' && {run}.head_branch == 'main')" in gate
    assert f"|| {run}.event == 'release')" in gate
    for name in DEPLOY_JOBS:
        job = deploy["jobs"][name]
        assert job["needs"] == "gate"
        (checkout,) = uses(job, "actions/checkout")
        assert checkout["with"]["ref"] == "${{ needs.gate.outputs.sha }}"  # what CI tested
    assert deploy["jobs"]["deploy"]["env"]["SHA"] == "${{ needs.gate.outputs.sha }}"
    assert "GITHUB_SHA" not in (WORKFLOWS / "deploy.yml").read_text()  # main's head, not CI's


@pytest.mark.parametrize(
    ("event", "stage", "role"),
    [
        ("push", "dev", "arn:aws:iam::1:role/portal-deploy-dev"),
        ("release", "production", "arn:aws:iam::1:role/portal-deploy-production"),
    ],
)
def test_the_gate_picks_the_stage_and_that_stage_s_own_role(
    tmp_path: Path, event: str, stage: str, role: str
) -> None:
    gate = step(load("deploy.yml"), "Stage, commit and role", job="gate")
    result, outputs = run_step(
        gate["run"],
        tmp_path,
        {
            "EVENT": event,
            "SHA": "a" * 40,
            "ROLE_DEV": "arn:aws:iam::1:role/portal-deploy-dev",
            "ROLE_PRODUCTION": "arn:aws:iam::1:role/portal-deploy-production",
        },
    )
    assert result.returncode == 0, result.stderr
    assert outputs == {"stage": stage, "sha": "a" * 40, "role": role}
    assert gate["env"]["ROLE_DEV"] == "${{ vars.AWS_DEPLOY_ROLE_ARN_DEV }}"
    assert gate["env"]["ROLE_PRODUCTION"] == "${{ vars.AWS_DEPLOY_ROLE_ARN_PRODUCTION }}"


def test_the_gate_stops_when_the_stage_s_role_variable_is_missing(tmp_path: Path) -> None:
    gate = step(load("deploy.yml"), "Stage, commit and role", job="gate")
    result, outputs = run_step(
        gate["run"],
        tmp_path,
        {"EVENT": "release", "SHA": "a" * 40, "ROLE_DEV": "arn:dev", "ROLE_PRODUCTION": ""},
    )
    assert result.returncode == 1
    assert "AWS_DEPLOY_ROLE_ARN_PRODUCTION is not set" in result.stdout
    assert outputs == {}  # the dev role is never handed to production


def test_each_stage_deploys_in_its_own_environment_one_at_a_time() -> None:
    jobs = load("deploy.yml")["jobs"]
    stage = "${{ needs.gate.outputs.stage }}"
    assert jobs["deploy"]["environment"]["name"] == stage
    assert jobs["image"]["environment"] == stage
    assert jobs["deploy"]["env"]["STAGE"] == stage
    assert jobs["deploy"]["concurrency"] == {
        "group": f"deploy-{stage}",
        "cancel-in-progress": False,
    }


def test_deploy_gets_aws_credentials_by_oidc() -> None:
    deploy = load("deploy.yml")
    assert "id-token" not in deploy["permissions"]  # only the jobs that assume a role
    for name in DEPLOY_JOBS:
        job = deploy["jobs"][name]
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        (credentials,) = uses(job, "aws-actions/configure-aws-credentials")
        assert credentials["with"]["role-to-assume"] == "${{ needs.gate.outputs.role }}"
        assert "aws-access-key-id" not in credentials["with"]
    text = (WORKFLOWS / "deploy.yml").read_text()
    assert "secrets." not in text  # no long-lived AWS keys anywhere


def test_deploy_uploads_static_then_updates_throttles_and_migrates() -> None:
    scripts = "\n".join(s.get("run", "") for s in load("deploy.yml")["jobs"]["deploy"]["steps"])
    package = scripts.index('zappa package "$STAGE"')
    bytecode = scripts.index('python ops/serverless/bytecode.py "dist/portal-$STAGE.zip"')
    upload = scripts.index('aws s3 cp --only-show-errors "dist/portal-$STAGE.zip"')
    static = scripts.index('aws s3 sync --only-show-errors "$RUNNER_TEMP/static"')
    update = scripts.index('zappa update "$STAGE"')
    throttle = scripts.index('python -m ops.aws.throttle --stage "$STAGE"')
    migrate = scripts.index('zappa manage "$STAGE" migrate')
    assert 'zappa deploy "$STAGE"' in scripts
    assert package < bytecode < upload < static < update < throttle < migrate
    assert not re.search(r"zappa manage[^\n]*collectstatic", scripts)


def test_the_static_step_collects_locally_and_syncs_to_the_stage_s_bucket(
    tmp_path: Path,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "aws-calls"
    (bin_dir / "aws").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bin_dir / "aws").chmod(0o755)
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    result, _ = run_step(
        step(load("deploy.yml"), "Static files to S3")["run"],
        tmp_path,
        {
            "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
            "RUNNER_TEMP": str(runner_temp),
            "STATIC_BUCKET": "portal-static-dev",
        },
    )
    assert result.returncode == 0, result.stderr
    assert calls.read_text().split() == [
        "s3", "sync", "--only-show-errors", str(runner_temp / "static"),
        "s3://portal-static-dev/static",
    ]  # fmt: skip
    # Plain names under static/: what the function's S3 storage (location "static") links to.
    assert (runner_temp / "static" / "admin" / "css" / "base.css").is_file()
    assert not (runner_temp / "static" / "staticfiles.json").exists()


def test_the_image_is_built_scanned_and_pushed_by_digest() -> None:
    job = load("deploy.yml")["jobs"]["image"]
    names = [s.get("name", "") for s in job["steps"]]
    assert names.index("Build") < names.index("Scan") < names.index("Push")
    assert (
        "-f ops/docker_containerization/Dockerfile"
        in step(load("deploy.yml"), "Build", "image")["run"]
    )
    (scan,) = uses(job, "aquasecurity/trivy-action")
    assert scan["with"]["severity"] == "CRITICAL"
    assert scan["with"]["exit-code"] == "1"
    assert "docker push" in step(load("deploy.yml"), "Push", "image")["run"]
    assert job["outputs"]["digest"] == "${{ steps.digest.outputs.digest }}"
    assert "$REPOSITORY@$DIGEST" in step(load("deploy.yml"), "Image by digest", "image")["run"]


def fake_aws_and_docker(tmp_path: Path, existing_digest: str) -> tuple[Path, Path]:
    """`aws` answering the image job's calls (the tag exists when existing_digest is set) and
    `docker` recording its; both log their arguments to the returned file."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(
        textwrap.dedent(f"""\
            #!/bin/sh
            echo "aws $*" >> {calls}
            case "$1 $2" in
              "sts get-caller-identity") echo 123456789012 ;;
              "ecr describe-images") echo "{existing_digest or "None"}" ;;
              "ecr get-login-password") echo token ;;
            esac
            """)
    )
    (bin_dir / "docker").write_text(f'#!/bin/sh\necho "docker $*" >> {calls}\ncat > /dev/null\n')
    for tool in ("aws", "docker"):
        (bin_dir / tool).chmod(0o755)
    return bin_dir, calls


@pytest.mark.parametrize("stage", ["dev", "production"])
def test_the_image_job_builds_into_its_own_stage_s_repository(stage: str, tmp_path: Path) -> None:
    bin_dir, calls = fake_aws_and_docker(tmp_path, existing_digest="")
    result, outputs = run_step(
        step(load("deploy.yml"), "Repository and existing image", "image")["run"],
        tmp_path,
        {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "STAGE": stage,
            "SHA": "0123abc",
            "AWS_REGION": "us-east-1",
        },
    )
    assert result.returncode == 0, result.stderr
    repository = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/portal-{stage}"
    assert outputs == {"repository": repository, "digest": "", "scan": "portal:git-0123abc"}
    assert f"--repository-name portal-{stage} " in calls.read_text()
    for name in ("Build", "Push"):
        assert (
            step(load("deploy.yml"), name, "image")["if"] == "steps.existing.outputs.digest == ''"
        )


def test_an_image_the_job_did_not_build_is_scanned_before_it_is_named(tmp_path: Path) -> None:
    digest = "sha256:" + "ab" * 32
    bin_dir, _ = fake_aws_and_docker(tmp_path, existing_digest=digest)
    result, outputs = run_step(
        step(load("deploy.yml"), "Repository and existing image", "image")["run"],
        tmp_path,
        {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "STAGE": "production",
            "SHA": "0123abc",
            "AWS_REGION": "us-east-1",
        },
    )
    assert result.returncode == 0, result.stderr
    image = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/portal-production@{digest}"
    assert outputs["scan"] == image
    job = load("deploy.yml")["jobs"]["image"]
    (scan,) = uses(job, "aquasecurity/trivy-action")
    assert "if" not in scan  # whether the job built the image or found it
    assert scan["with"]["image-ref"] == "${{ steps.existing.outputs.scan }}"
    names = [s.get("name", "") for s in job["steps"]]
    assert names.index("Scan") < names.index("Image by digest")


def test_the_layer_step_publishes_the_stage_s_own_layer() -> None:
    script = step(load("deploy.yml"), "Face-model layer")["run"]
    assert re.search(r'models_layer\.py publish [^\n]*\\\n\s*--stage "\$STAGE"', script)


@pytest.mark.parametrize("stage", ["dev", "production"])
def test_the_stage_settings_script_reads_buckets_and_function(tmp_path: Path, stage: str) -> None:
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
    settings = stage_settings(stage)
    assert values == {
        "bucket": settings["s3_bucket"],
        "function": f"portal-{stage}",
        "static_bucket": settings["environment_variables"]["AWS_STORAGE_BUCKET_NAME"],
    }


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
    assert f"| {zipped:.1f} MiB | {unzipped:.1f} MiB | 180 MiB |" in text
