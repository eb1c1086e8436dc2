"""`zappa deploy production-image -d <image uri>` against moto's server: the container image
(ops/docker_containerization/Dockerfile) as a Lambda function. Moto is told to check that the
image exists in its ECR, so the function is created from a pushed image, by digest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.deploy.aws import MotoServer, zappa_on_moto
from tests.deploy.conftest import write_settings
from tests.deploy.lambda_build import REPO, stage_settings

pytestmark = [pytest.mark.nodb, pytest.mark.slow]

STAGE = "production-image"
FUNCTION = "portal-production-image"
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
# What `docker push` leaves in ECR, minus the layers: moto checks the digest, not the blobs.
MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {
        "mediaType": "application/vnd.docker.container.image.v1+json",
        "size": 7023,
        "digest": "sha256:" + hashlib.sha256(b"portal image config").hexdigest(),
    },
    "layers": [],
}


@dataclass
class ImageDeployment:
    moto: MotoServer
    image_uri: str
    role_arn: str
    output: str
    function: dict[str, Any]


@pytest.fixture(scope="module")
def image_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageDeployment]:
    root = tmp_path_factory.mktemp("deploy-image")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MOTO_LAMBDA_STUB_ECR", "false")  # read by the moto server we start
        moto = MotoServer(root / "moto.log").start()
    try:
        settings = stage_settings(STAGE)
        role = moto.client("iam").create_role(
            RoleName=settings["role_name"], AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST)
        )["Role"]
        moto.client("s3").create_bucket(Bucket=settings["s3_bucket"])
        ecr = moto.client("ecr")
        repository = ecr.create_repository(repositoryName="portal-production")["repository"]
        pushed = ecr.put_image(
            repositoryName="portal-production",
            imageManifest=json.dumps(MANIFEST),
            imageTag="v1.0.0",
        )["image"]
        image_uri = f"{repository['repositoryUri']}@{pushed['imageId']['imageDigest']}"
        settings_file = write_settings(root / "zappa_settings.json", STAGE, touch=False)
        result = zappa_on_moto(moto.url, "deploy", STAGE, "-d", image_uri, "-s", str(settings_file))
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
        function = moto.client("lambda").get_function(FunctionName=FUNCTION)
        yield ImageDeployment(moto, image_uri, role["Arn"], result.stdout, function)
    finally:
        moto.stop()


def test_zappa_deploys_the_image_stage_as_an_image_function_without_layers(
    image_deployment: ImageDeployment,
) -> None:
    assert "Deployment complete" in image_deployment.output
    config = image_deployment.function["Configuration"]
    assert config["PackageType"] == "Image"
    assert image_deployment.function["Code"]["ImageUri"] == image_deployment.image_uri
    # Lambda refuses layers, a runtime and a handler on an image function: the models are
    # baked in and the image's entrypoint starts zappa.handler.lambda_handler.
    assert not config.get("Layers")
    assert "Runtime" not in config
    assert "Handler" not in config
    settings = stage_settings(STAGE)
    assert config["Role"] == image_deployment.role_arn
    assert config["MemorySize"] == settings["memory_size"]
    assert config["Timeout"] == settings["timeout_seconds"]
    assert config["Architectures"] == [settings["architecture"]]
    # The same schedules as the zip stages, aimed at this function (Zappa hashes a rule name
    # over EventBridge's 64 characters, so they are found by target, not by name).
    events = image_deployment.moto.client("events")
    scheduled = {
        rule["Description"]
        for rule in events.list_rules()["Rules"]
        for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        if target["Arn"] == config["FunctionArn"]
    }
    assert scheduled == {event["function"] for event in settings["events"]}
    apis = image_deployment.moto.client("apigateway").get_rest_apis()["items"]
    assert [api["name"] for api in apis] == [FUNCTION]


def test_the_image_is_built_for_the_stage_it_is_deployed_as() -> None:
    dockerfile = (REPO / "ops" / "docker_containerization" / "Dockerfile").read_text()
    assert f"ARG ZAPPA_STAGE={STAGE}\n" in dockerfile  # its zappa_settings.py: API_STAGE


def test_the_image_stage_is_refused_by_moto_when_the_image_was_never_pushed(
    image_deployment: ImageDeployment,
) -> None:
    missing = image_deployment.image_uri.split("@")[0] + "@sha256:" + "0" * 64
    client = image_deployment.moto.client("lambda")
    with pytest.raises(ClientError, match=r"ImageNotFound|does not exist"):
        client.create_function(
            FunctionName="portal-not-pushed",
            Role=image_deployment.role_arn,
            Code={"ImageUri": missing},
            PackageType="Image",
        )
