"""`zappa package vantage-<region>`, built offline as the deploy workflow builds it, unpacked and
run through Zappa's own handler with only its remote_env secrets on (moto's) S3: a vantage with
no database that answers /healthz and signed probes, and nothing else."""

from __future__ import annotations

import json
import secrets
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from modules.netprobe.tests.httpserver import LoopbackHTTPServer
from modules.netprobe.vantages.signing import signed_headers
from ops import vantages
from tests.deploy import events
from tests.deploy.aws import MotoServer
from tests.deploy.conftest import put_remote_env
from tests.deploy.container import HttpResponse, LambdaContainer, lambda_env
from tests.deploy.lambda_build import build_package, runtime_provided_dir, unpack

pytestmark = [pytest.mark.nodb, pytest.mark.slow]

REGION = vantages.regions()[0]
STAGE = vantages.stage_name(REGION)
SECRET = secrets.token_urlsafe(40)
HOST = f"v1a2b3c4d5.execute-api.{REGION}.amazonaws.com"


@pytest.fixture(scope="module")
def vantage_zip() -> Path:
    return build_package(STAGE).zip_path


@pytest.fixture(scope="module")
def vantage(
    vantage_zip: Path, moto: MotoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LambdaContainer]:
    root = tmp_path_factory.mktemp("vantage")
    task_root = unpack(build_package(STAGE))
    put_remote_env(
        moto,
        STAGE,
        {
            "SECRET_KEY": secrets.token_urlsafe(50),
            "NETPROBE_VANTAGE_SECRET": SECRET,
            "EGRESS_ALLOWED_NETWORKS": "127.0.0.0/8",  # the test's target is on loopback
        },
    )
    env = lambda_env(
        task_root,
        function_name=f"portal-{STAGE}",
        AWS_ENDPOINT_URL=moto.url,
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
    )
    paths = [task_root, runtime_provided_dir(root / "var-runtime")]
    container = LambdaContainer(paths, env, root / "vantage.log")
    yield container
    container.close()


def call(
    vantage: LambdaContainer, method: str, path: str, body: bytes = b"", *, signed: bool = True
) -> HttpResponse:
    headers = signed_headers(SECRET, method=method, path=path, body=body) if signed else {}
    if body:
        headers["Content-Type"] = "application/json"
    event = events.rest_event(
        method, path, stage=STAGE, headers=headers, body=body.decode() or None, host=HOST
    )
    return vantage.http(event)


def test_its_settings_module_is_the_vantage_stage_with_no_secret_and_no_database(
    vantage_zip: Path,
) -> None:
    with zipfile.ZipFile(vantage_zip) as archive:
        text = archive.read("zappa_settings.py").decode()
    assert f"API_STAGE='{STAGE}'" in text
    assert f"REMOTE_ENV='s3://portal-secrets-production/vantages/{REGION}.json'" in text
    assert "'NETPROBE_ROLE': 'vantage'" in text
    assert "'PORTAL_MODULES': 'netprobe'" in text
    for absent in ("SECRET_KEY", "NETPROBE_VANTAGE_SECRET", "DATABASE_URL", "CACHE_URL"):
        assert absent not in text, absent


def test_the_packaged_vantage_answers_healthz_and_a_signed_health_check(
    vantage: LambdaContainer,
) -> None:
    health = vantage.http(events.rest_event("GET", "/healthz", stage=STAGE, host=HOST))
    body = json.dumps({"request_id": uuid.uuid4().hex}).encode()
    signed = call(vantage, "POST", "/vantage/v1/health", body)
    unsigned = call(vantage, "POST", "/vantage/v1/health", body, signed=False)

    assert health.status == 200, health
    assert signed.status == 200, signed
    assert signed.json()["region"] == REGION
    assert unsigned.status == 401, unsigned
    assert unsigned.json()["error"]["code"] == "signature_invalid"


def test_the_packaged_vantage_runs_a_signed_probe_under_its_own_egress_policy(
    vantage: LambdaContainer,
) -> None:
    with LoopbackHTTPServer() as target:
        body = json.dumps(
            {"request_id": uuid.uuid4().hex, "kind": "http", "target": f"{target.url}/"}
        ).encode()
        answer = call(vantage, "POST", "/vantage/v1/probe", body)

    assert answer.status == 200, answer
    result = answer.json()["result"]
    assert (result["kind"], result["status"]) == ("http", "ok")
    assert result["result"]["status_code"] == 200


def test_the_packaged_vantage_serves_nothing_of_the_hub(vantage: LambdaContainer) -> None:
    for path in ("/admin/", "/api/netprobe/probes/", "/netprobe/", "/readyz", "/accounts/login/"):
        response = vantage.http(events.rest_event("GET", path, stage=STAGE, host=HOST))
        assert response.status == 404, (path, response)
        assert response.json()["error"]["code"] == "not_found"
