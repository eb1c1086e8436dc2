"""The FACES_* settings refuse malformed values at start-up, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from modules.faces.tests.fixtures import REPO_ROOT

pytestmark = pytest.mark.nodb


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FACES_THRESHOLD", "3", "FACES_THRESHOLD must be at most 2.0"),
        ("FACES_THRESHOLD", "0", "FACES_THRESHOLD must be at least 0.01"),
        ("FACES_STORE_IMAGES", "maybe", "FACES_STORE_IMAGES must be a boolean"),
        ("FACES_DETECT_MAX_SIDE", "100", "FACES_DETECT_MAX_SIDE must be at least 160"),
    ],
)
def test_refuses_a_malformed_faces_setting(variable: str, value: str, message: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FACES_"))}
    env.update(
        {"DJANGO_SETTINGS_MODULE": "portal.settings", "SECRET_KEY": "x" * 50, variable: value}
    )

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert message in result.stderr
