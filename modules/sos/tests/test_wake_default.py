"""How the dispatcher is woken by default: a thread where the process keeps running, Zappa's
async task on Lambda (where a thread freezes as soon as the response is returned)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.nodb
ROOT = Path(__file__).resolve().parents[3]


def wake_mode(**env: str) -> str:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "SOS_", "AWS_LAMBDA_", "PORTAL_"))
    }
    clean.update(DJANGO_SETTINGS_MODULE="portal.settings", SECRET_KEY="x" * 50, DEBUG="1", **env)
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.SOS_WAKE)"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_wakes_a_thread_off_lambda():
    assert wake_mode() == "thread"


def test_wakes_through_zappa_on_lambda():
    assert wake_mode(AWS_LAMBDA_FUNCTION_NAME="portal-production") == "zappa"


def test_an_explicit_choice_wins_on_lambda():
    assert wake_mode(AWS_LAMBDA_FUNCTION_NAME="portal-production", SOS_WAKE="none") == "none"
