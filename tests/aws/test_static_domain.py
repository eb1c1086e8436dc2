"""Static files on Lambda come from the CloudFront domain storage.yaml creates (written into
AWS_S3_CUSTOM_DOMAIN by `make aws-settings`): pages link there and the CSP lets them load."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.deploy.lambda_build import REPO

pytestmark = pytest.mark.nodb

PROBE = """
import json
import django
django.setup()
from django.conf import settings
from django.templatetags.static import static
print(json.dumps({"url": static("css/portal.css"),
                  "csp": settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]}))
"""


def probe(**env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DJANGO"))}
    base.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DEBUG="0",
        SECRET_KEY="static-domain-test-" + "x" * 40,
        ALLOWED_HOSTS="portal.example.com",
        **env,
    )
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_pages_load_static_files_from_the_cloudfront_domain() -> None:
    found = probe(
        USE_S3_STORAGE="1",
        AWS_STORAGE_BUCKET_NAME="portal-static-dev",
        AWS_S3_CUSTOM_DOMAIN="d111111abcdef8.cloudfront.net",
    )
    assert found["url"] == "https://d111111abcdef8.cloudfront.net/static/css/portal.css"
    for directive in ("script-src", "style-src", "img-src", "font-src"):
        assert "https://d111111abcdef8.cloudfront.net" in found["csp"][directive], directive
    assert found["csp"]["connect-src"] == ["'self'"]


def test_without_s3_the_policy_stays_self_only() -> None:
    found = probe(
        USE_S3_STORAGE="0",
        STATIC_MANIFEST="0",
        AWS_S3_CUSTOM_DOMAIN="d111111abcdef8.cloudfront.net",
    )
    assert found["csp"]["script-src"] == ["'self'"]
