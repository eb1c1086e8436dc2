"""The preflight runs a profile's credential_process once per process and minute for the same
environment and AWS files, not on every contact save or page view; a changed file is seen."""

from __future__ import annotations

import sys

from modules.sos import preflight
from modules.sos.preflight import channel_warnings
from modules.sos.tests.aws_env import no_aws_fixture  # noqa: F401 - the no_aws fixture


def test_a_credential_process_is_not_run_on_every_check(no_aws, monkeypatch, settings):
    settings.SOS_AWS_REGION = "us-east-1"
    runs = no_aws / "runs"
    helper = no_aws / "helper.py"
    helper.write_text(
        "import json, pathlib\n"
        f"p = pathlib.Path({str(runs)!r})\n"
        "p.write_text(p.read_text() + 'x' if p.exists() else 'x')\n"
        'print(json.dumps({"Version": 1, "AccessKeyId": "AKIAEX", "SecretAccessKey": "s"}))\n'
    )
    (no_aws / "config").write_text(f"[default]\ncredential_process = {sys.executable} {helper}\n")
    monkeypatch.setattr(preflight, "_credentials_seen", {})
    for _ in range(3):
        assert "aws_credentials_missing" not in [w.code for w in channel_warnings(["sms"])]
    assert runs.read_text() == "x"
    (no_aws / "config").write_text("")  # the profile is gone: seen at the next check
    assert "aws_credentials_missing" in [w.code for w in channel_warnings(["sms"])]


def test_the_preflight_never_asks_the_instance_metadata_service(
    no_aws, monkeypatch, settings, receiver
):
    # The fixture turns IMDS off for sends; here it is on, at a server that counts its callers.
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", receiver.url("/"))
    monkeypatch.setattr(preflight, "_credentials_seen", {})
    settings.SOS_AWS_REGION = "us-east-1"
    assert "aws_credentials_missing" in [w.code for w in channel_warnings(["sms", "email"])]
    assert receiver.requests == []
