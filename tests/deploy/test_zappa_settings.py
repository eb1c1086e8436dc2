"""zappa_settings.json: the choices ops/README.md explains, and no secret in it."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatch

import pytest

from tests.deploy.lambda_build import REPO, runtime_distributions, stage_settings

pytestmark = pytest.mark.nodb

STAGES = ("dev", "production")
IMAGE_STAGE = "production-image"  # production from the container image (zappa deploy -d)
SECRET_NAMES = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEY|DATABASE_URL|CACHE_URL=redis", re.I)


def test_production_extends_dev() -> None:
    raw = json.loads((REPO / "zappa_settings.json").read_text())
    # The vantage-<region> stages are derived from ops/vantages.json (test_vantage_stages.py).
    assert {name for name in raw if not name.startswith("vantage-")} == {*STAGES, IMAGE_STAGE}
    assert raw["production"]["extends"] == "dev"
    assert raw["production"]["s3_bucket"] != raw["dev"]["s3_bucket"]
    assert raw["production"]["remote_env"] != raw["dev"]["remote_env"]


def test_the_image_stage_is_production_without_what_image_functions_refuse() -> None:
    raw = json.loads((REPO / "zappa_settings.json").read_text())
    assert raw[IMAGE_STAGE]["extends"] == "production"
    image, production = stage_settings(IMAGE_STAGE), stage_settings("production")
    # Lambda refuses layers on an image function (the models are in the image) and Zappa
    # refuses slim_handler for one; everything else is production's.
    assert production["layers"], "the zip stage takes the models from a layer"
    assert image.pop("layers") == []
    assert not image.pop("slim_handler")
    for settings in (image, production):
        settings.pop("extends")
    production.pop("layers")
    production.pop("slim_handler")
    assert image == production


@pytest.mark.parametrize("stage", STAGES)
def test_runs_django_on_python_312_with_binary_support(stage: str) -> None:
    settings = stage_settings(stage)
    assert settings["django_settings"] == "portal.settings"
    assert settings["runtime"] == "python3.12"
    assert settings["binary_support"] is True
    assert settings["debug"] is False  # Zappa's debug puts tracebacks into 500 bodies
    assert settings["slim_handler"] is False
    assert settings["keep_warm"] is False
    assert settings["use_precompiled_packages"] is False
    assert settings["manage_roles"] is False
    assert settings["role_name"] == f"portal-lambda-{stage}"


@pytest.mark.parametrize("stage", STAGES)
def test_memory_buys_a_full_vcpu_and_the_timeout_fits_api_gateway(stage: str) -> None:
    settings = stage_settings(stage)
    assert settings["memory_size"] >= 1769  # Lambda gives one full vCPU from 1,769 MB
    assert settings["timeout_seconds"] <= 30  # API Gateway answers 504 after 29 s anyway
    env = settings["environment_variables"]
    assert float(env.get("SOS_DRAIN_MAX_S", "25")) < settings["timeout_seconds"]


@pytest.mark.parametrize("stage", STAGES)
def test_secrets_come_by_reference(stage: str) -> None:
    settings = stage_settings(stage)
    assert settings["remote_env"].startswith(f"s3://portal-secrets-{stage}/")
    for key, value in settings["environment_variables"].items():
        assert not SECRET_NAMES.search(f"{key}={value}"), key
    assert "aws_environment_variables" not in settings


@pytest.mark.parametrize("stage", STAGES)
def test_the_dispatcher_wakes_as_a_zappa_async_task(stage: str) -> None:
    settings = stage_settings(stage)
    assert settings["environment_variables"]["SOS_WAKE"] == "zappa"
    assert settings["async_source"] == "lambda"  # a direct async Invoke of this function
    assert settings["async_resources"] is False  # no SNS topic or DynamoDB table needed


@pytest.mark.parametrize("stage", STAGES)
def test_statics_and_media_live_on_s3(stage: str) -> None:
    env = stage_settings(stage)["environment_variables"]
    assert env["USE_S3_STORAGE"] == "1"
    assert env["AWS_STORAGE_BUCKET_NAME"] == f"portal-static-{stage}"
    assert env["AWS_MEDIA_BUCKET_NAME"] == f"portal-media-{stage}"
    # Rate limits and login throttles are shared between Lambda instances.
    assert env["CACHE_URL"].startswith(("db://", "redis://", "rediss://"))


def test_the_monitors_and_the_sweep_run_every_minute_and_pruning_daily() -> None:
    events = {e["function"]: e["expression"] for e in stage_settings("dev")["events"]}
    assert events == {
        "portal.lambda_tasks.run_monitors": "rate(1 minute)",
        "portal.lambda_tasks.sos_sweep": "rate(1 minute)",
        "portal.lambda_tasks.prune": "cron(17 3 * * ? *)",
    }


@pytest.mark.parametrize(
    "pattern",
    [
        "__pycache__",
        "tests",
        "bench",
        "ops",
        "docs",
        "shape_predictor_68_face_landmarks.dat",
        "mmod_human_face_detector.dat",
        "face_recognition_models",
        "boto3",
        "botocore",
        "s3transfer",
        "pip",
        ".venv",
        "var",
    ],
)
def test_the_package_excludes(pattern: str) -> None:
    assert pattern in stage_settings("production")["exclude"]


# Patterns meant for the project tree only (the rest of `exclude` trims libraries on purpose).
PROJECT_ONLY = {
    ".venv",
    ".venv-*",
    "var",
    "node_modules",
    ".github",
    ".ci",
    ".pytest_cache",
    ".ruff_cache",
    "bench",
    "ops",
    "docs",
    "conftest.py",
    "Makefile",
    "Dockerfile",
    ".dockerignore",
    "db.sqlite3*",
}


def test_no_project_pattern_drops_a_library_file() -> None:
    # Zappa matches `exclude` against every file and folder name at any depth, in the project
    # and in site-packages alike: "staticfiles" would drop django.contrib.staticfiles.
    excluded = set(stage_settings("production")["exclude"])
    assert excluded >= PROJECT_ONLY
    assert not {"staticfiles", "static", "media", "templates", "locale"} & excluded
    provided = {"boto3", "botocore", "s3transfer"}  # left out whole: Lambda's runtime has them
    hits = [
        str(file)
        for distribution in runtime_distributions().values()
        if distribution.name not in provided
        for file in distribution.files or []
        if any(fnmatch(part, pattern) for part in file.parts for pattern in PROJECT_ONLY)
    ]
    assert hits == ["numpy/conftest.py"]  # numpy's pytest configuration: not needed either
