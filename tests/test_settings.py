"""Bad configuration stops start-up with a message that names the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.nodb
ROOT = Path(__file__).resolve().parent.parent
GOOD = {"SECRET_KEY": "x" * 50, "DEBUG": "0", "ALLOWED_HOSTS": "example.com"}


def start(code: str = "print('started')", **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_"))}
    clean.update({"DJANGO_SETTINGS_MODULE": "portal.settings", **env})
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_starts_with_good_settings():
    result = start(**GOOD)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_requires_secret_key_when_debug_is_off():
    result = start(DEBUG="0", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_runs_without_secret_key_in_debug():
    assert start(DEBUG="1", SECRET_KEY="").returncode == 0


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG must be a boolean"),
        ("PORTAL_MODULES", "netprobe,chat", "PORTAL_MODULES names unknown module(s) chat"),
        ("EGRESS_ALLOWED_NETWORKS", "10.0.0.0/8,not-a-net", "EGRESS_ALLOWED_NETWORKS must be"),
        ("DATABASE_URL", "mongodb://localhost/db", "DATABASE_URL"),
        ("CACHE_URL", "memcached://localhost", "CACHE_URL must be"),
        ("SECURE_HSTS_SECONDS", "a year", "SECURE_HSTS_SECONDS must be an integer"),
        ("EMAIL_PORT", "70000", "EMAIL_PORT must be at most 65535"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of json, text"),
        ("API_PAGE_SIZE", "0", "API_PAGE_SIZE must be at least 1"),
    ],
)
def test_refuses_a_malformed_value_naming_the_variable(variable, value, message):
    result = start(**{**GOOD, variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_reads_database_and_cache_urls(monkeypatch):
    from portal import settings as s

    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example:5433/portal")
    db = s.envdatabase("DATABASE_URL", "sqlite:///x")
    assert (db["ENGINE"], db["HOST"], db["PORT"], db["NAME"]) == (
        "django.db.backends.postgresql",
        "db.example",
        5433,
        "portal",
    )
    monkeypatch.setenv("CACHE_URL", "redis://127.0.0.1:6379/2")
    assert s.envcache("CACHE_URL", "locmem://")["BACKEND"].endswith("RedisCache")
    monkeypatch.setenv("CACHE_URL", "redis://127.0.0.1:6379/2?prefix=eu&health_check_interval=5")
    redis = s.envcache("CACHE_URL", "locmem://")
    assert (redis["LOCATION"], redis["KEY_PREFIX"]) == (
        "redis://127.0.0.1:6379/2?health_check_interval=5",
        "eu",
    )
    monkeypatch.setenv("CACHE_URL", "db://portal_cache")
    assert s.envcache("CACHE_URL", "locmem://")["LOCATION"] == "portal_cache"
    monkeypatch.delenv("CACHE_URL")
    assert s.envcache("CACHE_URL", "locmem://")["BACKEND"].endswith("LocMemCache")


def test_passes_check_deploy_with_production_settings():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PORTAL_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DEBUG": "0",
            "SECRET_KEY": "k3y-" + "q9Zr7!xT2#mP5vL8" * 4,
            "ALLOWED_HOSTS": "portal.example.com",
            "SECURE_SSL_REDIRECT": "1",
            "SECURE_HSTS_SECONDS": "31536000",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
            "SECURE_HSTS_PRELOAD": "1",
        }
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_static_files_on_s3_leave_whitenoise_out_of_the_request_path():
    code = "from django.conf import settings; print('whitenoise' in ' '.join(settings.MIDDLEWARE))"
    bucket = {"AWS_STORAGE_BUCKET_NAME": "portal-static-test"}
    answers = {s3: start(code, **GOOD, **bucket, USE_S3_STORAGE=s3) for s3 in ("0", "1")}
    assert [a.returncode for a in answers.values()] == [0, 0], answers["1"].stderr
    assert {s3: a.stdout.strip() for s3, a in answers.items()} == {"0": "True", "1": "False"}
