"""A process environment with no AWS credentials anywhere botocore looks without a network:
no AWS_* variables, empty shared credentials and config files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(name="no_aws")
def no_aws_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    credentials, config = tmp_path / "credentials", tmp_path / "config"
    credentials.write_text("")
    config.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # a send must not wait on IMDS
    return tmp_path
