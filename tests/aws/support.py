"""What the tests of ops/aws share: the templates, the tools, the stacks created on moto."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from ops.aws.stacks import STACKS_FILE, load_template, plan
from tests.deploy.lambda_build import REPO

AWS_DIR = REPO / "ops" / "aws"
# The templates this part of issue 15 wrote; iam.yaml and github-oidc.yaml are tested by
# test_iam.py, and checked here by checkov and the moto creation with the rest.
OWN_TEMPLATES = ("network", "storage", "data", "messaging", "operations", "ecr")
ALL_TEMPLATES = tuple(stack.template for stack in plan("dev", STACKS_FILE))
# Every template in the folder: the stacks above and those made on their own (dns.yaml).
DIR_TEMPLATES = tuple(sorted(p for p in AWS_DIR.glob("*.yaml") if p != STACKS_FILE))
CFN_LINT = Path(sys.executable).with_name("cfn-lint")
CHECKOV = REPO / ".venv-tools" / "bin" / "checkov"
ACCOUNT = "123456789012"  # moto's


def template(concern: str) -> dict[str, Any]:
    return load_template(AWS_DIR / f"{concern}.yaml")


def require_tool(path: Path, install: str) -> str:
    """The tool's path; missing, a skip here and a failure in CI (make test installs it)."""
    if path.is_file() and os.access(path, os.X_OK):
        return str(path)
    message = f"{path.name} is not installed: {install} (make test does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
