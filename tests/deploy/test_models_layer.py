"""ops/serverless/models_layer.py publish against moto's server: each stage publishes to its own
layer, and a version is reused only when Lambda's digest of its content is the zip's, whatever
its description says."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ops.serverless import models_layer
from tests.deploy.aws import CREDENTIALS, MotoServer

pytestmark = pytest.mark.nodb


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("models-layer") / "moto.log").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def lambda_client(moto: MotoServer) -> Any:
    moto.reset()
    return moto.client("lambda")


def stand_in_layer(path: Path, content: str) -> Path:
    # Small stand-ins: publish() reads any zip; build() is the package tests' subject.
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{models_layer.LAYER_PREFIX}/README", content)
    return path


def test_a_second_publish_of_the_same_models_reuses_the_version(
    lambda_client: Any, tmp_path: Path
) -> None:
    layer = stand_in_layer(tmp_path / "layer.zip", "models v1")
    first = models_layer.publish(layer, stage="dev", client=lambda_client)
    assert first.endswith(":layer:portal-face-models-dev:1")
    assert models_layer.publish(layer, stage="dev", client=lambda_client) == first
    changed = stand_in_layer(tmp_path / "changed.zip", "models v2")
    assert models_layer.publish(changed, stage="dev", client=lambda_client).endswith(":2")


def test_each_stage_publishes_to_its_own_layer(lambda_client: Any, tmp_path: Path) -> None:
    layer = stand_in_layer(tmp_path / "layer.zip", "models v1")
    dev = models_layer.publish(layer, stage="dev", client=lambda_client)
    production = models_layer.publish(layer, stage="production", client=lambda_client)
    assert dev.endswith(":layer:portal-face-models-dev:1")
    assert production.endswith(":layer:portal-face-models-production:1")
    with pytest.raises(ValueError, match="no face-model layer for stage 'production-image'"):
        models_layer.publish(layer, stage="production-image", client=lambda_client)


def test_a_version_whose_description_lies_about_its_content_is_not_reused(
    lambda_client: Any, tmp_path: Path
) -> None:
    layer = stand_in_layer(tmp_path / "layer.zip", "models v1")
    forged = stand_in_layer(tmp_path / "forged.zip", "anything else")
    lie = lambda_client.publish_layer_version(
        LayerName="portal-face-models-production",
        Description=f"dlib models sha256:{models_layer.sha256(layer)}",
        Content={"ZipFile": forged.read_bytes()},
    )
    published = models_layer.publish(layer, stage="production", client=lambda_client)
    assert published != lie["LayerVersionArn"]
    assert published.endswith(":layer:portal-face-models-production:2")
    version = lambda_client.get_layer_version(
        LayerName="portal-face-models-production", VersionNumber=2
    )
    assert version["Content"]["CodeSha256"] == models_layer.code_sha256(layer)


def test_publish_writes_the_stage_s_version_into_its_layers(
    moto: MotoServer, lambda_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**CREDENTIALS, "AWS_ENDPOINT_URL": moto.url}.items():
        monkeypatch.setenv(name, value)
    settings = tmp_path / "zappa_settings.json"
    shared = "arn:aws:lambda:us-east-1:123456789012:layer:portal-face-models:4"
    other = "arn:aws:lambda:us-east-1:123456789012:layer:other:1"
    settings.write_text(json.dumps({"production": {"layers": [shared, other]}}))
    layer = stand_in_layer(tmp_path / "layer.zip", "models v1")
    argv = ["publish", str(layer), "--stage", "production", "--zappa-settings", str(settings)]
    assert models_layer.main(argv) == 0
    (published,) = lambda_client.list_layer_versions(LayerName="portal-face-models-production")[
        "LayerVersions"
    ]
    layers = json.loads(settings.read_text())["production"]["layers"]
    assert layers == [other, published["LayerVersionArn"]]
