"""Face comparison through Zappa's handler: multipart uploads arrive base64-encoded (API
Gateway binary support), the models come from the layer, stored photos go to the media
bucket, and the largest upload Lambda accepts fits the configured memory."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from modules.faces.tests.fixtures import fixtures_dir_or_skip
from tests.deploy import events
from tests.deploy.conftest import LambdaApp, PackagedLambda, PortalLambda
from tests.deploy.lambda_build import stage_settings

pytestmark = [pytest.mark.nodb, pytest.mark.slow]

SAME = ("face_recognition/examples_obama.jpg", "face_recognition/examples_obama2.jpg")
OTHER = "face_recognition/examples_biden.jpg"
# Lambda refuses a synchronous invocation whose request is over 6 MB, base64 body included.
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024


@pytest.fixture(scope="module")
def faces_dir() -> Path:
    return fixtures_dir_or_skip()


def compare(app: LambdaApp, kind: str, image_a: bytes, image_b: bytes) -> tuple:
    content_type, body = events.multipart(
        {"pick": "largest"},
        {
            "image_a": ("a.jpg", image_a, "image/jpeg"),
            "image_b": ("b.jpg", image_b, "image/jpeg"),
        },
    )
    build = events.rest_event if kind == "rest" else events.http_event
    event = build(
        "POST",
        "/api/faces/compare/",
        headers={"Content-Type": content_type, "Authorization": f"Token {app.token()}"},
        body=body,
    )
    assert event["isBase64Encoded"]
    assert len(json.dumps(event)) < LAMBDA_PAYLOAD_LIMIT
    return app.container.http(event), event


def test_compares_two_uploaded_photos(
    portal_lambda: PortalLambda, faces_dir: Path, kind: str
) -> None:
    a, b = ((faces_dir / name).read_bytes() for name in SAME)
    response, _ = compare(portal_lambda, kind, a, b)
    assert response.status == 200, response
    assert not response.base64
    result = response.json()
    assert result["match"] is True
    assert result["distance"] <= result["threshold"] == 0.6
    assert len(result["faces_a"]) == len(result["faces_b"]) == 1


def test_tells_two_people_apart(portal_lambda: PortalLambda, faces_dir: Path) -> None:
    a, b = (faces_dir / SAME[0]).read_bytes(), (faces_dir / OTHER).read_bytes()
    response, _ = compare(portal_lambda, "rest", a, b)
    assert response.status == 200, response
    assert response.json()["match"] is False


def test_answers_no_face_in_the_envelope(
    portal_lambda: PortalLambda, faces_dir: Path, kind: str
) -> None:
    from PIL import Image

    blank = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 200, 200)).save(blank, "JPEG")
    response, _ = compare(portal_lambda, kind, (faces_dir / SAME[0]).read_bytes(), blank.getvalue())
    assert response.status == 422, response
    error = response.json()["error"]
    assert error["code"] == "no_face"
    assert "b" in json.dumps(error["details"])


def test_the_package_compares_with_the_models_layer_and_stores_to_s3(
    packaged_lambda: PackagedLambda, faces_dir: Path, moto
) -> None:
    a, b = ((faces_dir / name).read_bytes() for name in SAME)
    response, _ = compare(packaged_lambda, "rest", a, b)
    assert response.status == 200, response
    assert response.json()["match"] is True
    loaded = packaged_lambda.container.modules()
    assert loaded["_dlib_pybind11"].startswith(str(packaged_lambda.task_root))
    bucket = stage_settings("production")["environment_variables"]["AWS_MEDIA_BUCKET_NAME"]
    keys = [
        item["Key"] for item in moto.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    ]
    stored = [key for key in keys if key.startswith("media/faces/comparisons/")]
    assert len(stored) >= 2, keys
    assert {Path(key).suffix for key in stored} == {".jpg"}


def _largest_upload(path: Path) -> bytes:
    """The photo scaled to just under FACES_MAX_PIXELS (40 MP): about as many pixels as the API
    accepts, in a JPEG small enough for two of them to fit Lambda's 6 MB request."""
    from PIL import Image

    image = Image.open(path).convert("RGB")
    scale = (39_000_000 / (image.width * image.height)) ** 0.5
    big = image.resize((int(image.width * scale), int(image.height * scale)), Image.BICUBIC)
    buffer = io.BytesIO()
    big.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def test_the_largest_comparison_fits_the_function_memory(
    packaged_lambda: PackagedLambda, faces_dir: Path
) -> None:
    memory_mb = stage_settings("production")["memory_size"]
    a, b = (_largest_upload(faces_dir / name) for name in SAME)
    with packaged_lambda.fresh("largest") as container:
        app = LambdaApp(container)
        response, _ = compare(app, "rest", a, b)
        peak = container.peak_rss_mib()
    assert response.status == 200, response
    assert response.json()["match"] is True
    # Half the function's memory at most: the rest is headroom (and buys CPU, see ops/README).
    assert peak < memory_mb / 2, f"peak RSS {peak:.0f} MiB for two 39 MP photos"
