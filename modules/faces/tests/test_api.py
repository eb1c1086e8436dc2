"""POST /api/faces/compare/ and the comparison log, through the real API stack."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from modules.faces.models import Comparison
from modules.faces.tests.images import encode_image, png_claiming_size, with_orientation
from modules.faces.tests.uploads import (
    BIDEN,
    DOGS,
    OBAMA,
    OBAMA_2,
    OBAMA_240P,
    OBAMA_AND_BIDEN,
    OBAMA_RGBA,
    upload,
)

COMPARE = "/api/faces/compare/"


def compare(client, a: bytes, b: bytes, **fields):
    data = {"image_a": upload(a, "a.jpg"), "image_b": upload(b, "b.jpg"), **fields}
    return client.post(COMPARE, data, format="multipart")


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_matches_two_photos_of_the_same_person(operator_api, operator, small_photo):
    response = compare(operator_api, small_photo(OBAMA), small_photo(OBAMA_2))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["match"] is True
    assert body["distance"] < 0.6
    assert body["similarity"] > 50
    assert body["threshold"] == 0.6
    assert body["model"] == "dlib_face_recognition_resnet_model_v1"
    assert body["pair"] == {"a": 0, "b": 0}
    assert len(body["faces_a"]) == len(body["faces_b"]) == 1
    assert set(body["faces_a"][0]["box"]) == {"left", "top", "right", "bottom", "width", "height"}
    assert body["warnings"] == []
    assert set(body["timings_ms"]) == {"decode", "detect", "encode", "total"}
    assert body["timings_ms"]["decode"] > 0
    log = Comparison.objects.get(pk=body["id"])
    assert (log.verdict, log.user, log.source) == ("match", operator, "api")
    assert log.distance == pytest.approx(body["distance"], abs=1e-4)
    assert (log.faces_a, log.faces_b) == (1, 1)


def test_tells_two_different_people_apart_at_a_custom_threshold(operator_api, small_photo):
    response = compare(operator_api, small_photo(OBAMA), small_photo(BIDEN), threshold="0.5")

    body = response.json()
    assert response.status_code == 200
    assert body["match"] is False
    assert body["threshold"] == 0.5
    assert body["similarity"] < 50
    assert Comparison.objects.get(pk=body["id"]).verdict == "no_match"


@pytest.mark.parametrize("pick", ["best", "largest"])
def test_picks_the_pair_to_compare_among_several_faces(operator_api, small_photo, pick):
    group = small_photo(OBAMA_AND_BIDEN, 1400)

    body = compare(operator_api, group, small_photo(BIDEN), pick=pick).json()

    assert len(body["faces_a"]) >= 2
    assert body["pick"] == pick
    assert [(w["code"], w["which"]) for w in body["warnings"]] == [("several_faces", "a")]
    compared = body["faces_a"][body["pair"]["a"]]
    if pick == "best":
        assert body["match"] is True  # Biden, on the left of the group photo
        assert compared["box"]["left"] < 700
    else:
        assert body["match"] is False  # the largest face is Obama's
        largest = max(body["faces_a"], key=lambda f: f["box"]["width"] * f["box"]["height"])
        assert compared == largest


def test_reads_rgba_grayscale_webp_named_jpg_and_exif_rotated_photos(
    operator_api, photo, small_photo
):
    upright = Image.open(io.BytesIO(small_photo(OBAMA))).convert("RGB")
    reference = small_photo(OBAMA_2)
    inputs = {
        "PNG": photo(OBAMA_RGBA),
        "gray": encode_image(upright.convert("L"), "JPEG", quality=92),
        "WEBP": encode_image(upright, "WEBP", quality=90),
        "rotated": with_orientation(upright, 6),
    }

    bodies = {kind: compare(operator_api, data, reference).json() for kind, data in inputs.items()}

    assert all(body["match"] for body in bodies.values()), bodies
    assert bodies["PNG"]["image_a"]["format"] == "PNG"
    assert bodies["WEBP"]["image_a"]["format"] == "WEBP"  # uploaded as a.jpg, image/jpeg
    assert bodies["rotated"]["image_a"]["orientation"] == 6
    assert (bodies["rotated"]["image_a"]["width"], bodies["rotated"]["image_a"]["height"]) == (
        upright.width,
        upright.height,
    )


def test_says_which_photo_has_no_face(operator_api, small_photo):
    error = error_of(compare(operator_api, small_photo(OBAMA), small_photo(DOGS)), 422, "no_face")

    assert error["details"]["which"] == "b"
    log = Comparison.objects.get()
    assert (log.verdict, log.error_code, log.error_which) == ("error", "no_face", "b")
    assert (log.faces_a, log.faces_b) == (1, 0)
    assert log.distance is None


def test_rejects_truncated_and_non_image_files(operator_api, small_photo):
    data = small_photo(OBAMA)

    truncated = error_of(compare(operator_api, data[: len(data) // 3], data), 400, "invalid_image")
    not_image = error_of(compare(operator_api, data, b"%PDF-1.7 not a photo"), 400, "invalid_image")
    empty = error_of(compare(operator_api, b"", data), 400, "invalid_image")

    assert truncated["details"]["which"] == "a"
    assert not_image["details"]["which"] == "b"
    assert empty["details"]["which"] == "a"


def test_refuses_a_photo_over_the_byte_limit(operator_api, settings, photo, small_photo):
    settings.FACES_MAX_IMAGE_BYTES = 100_000

    error = error_of(
        compare(operator_api, small_photo(OBAMA_240P), photo(OBAMA)), 413, "image_too_large"
    )

    assert error["details"] == {"which": "b", "max_bytes": 100_000, "size": len(photo(OBAMA))}


def test_refuses_a_decompression_bomb_before_decoding_it(operator_api, small_photo):
    bomb = png_claiming_size(30_000, 30_000)  # 900 MP declared in a few bytes

    error = error_of(compare(operator_api, bomb, small_photo(OBAMA)), 413, "image_too_large")

    assert error["details"]["which"] == "a"
    assert error["details"]["max_pixels"] == 40_000_000


def test_refuses_a_request_over_the_portal_limit(operator_api, settings, photo):
    settings.REQUEST_MAX_BYTES = 200_000

    error_of(compare(operator_api, photo(OBAMA), photo(OBAMA_2)), 413, "payload_too_large")

    assert not Comparison.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"image_b": None}, "image_b"),
        ({"threshold": "3"}, "threshold"),
        ({"threshold": "0"}, "threshold"),
        ({"threshold": "abc"}, "threshold"),
        ({"pick": "first"}, "pick"),
    ],
)
def test_validates_its_fields(operator_api, small_photo, fields, field):
    data = {"image_a": upload(small_photo(OBAMA_240P)), "image_b": upload(small_photo(OBAMA_240P))}
    data.update(fields)
    data = {key: value for key, value in data.items() if value is not None}

    error = error_of(operator_api.post(COMPARE, data, format="multipart"), 400, "validation_error")

    assert list(error["details"]["fields"]) == [field]
    assert not Comparison.objects.exists()


def test_only_operators_compare_and_viewers_read_the_log(
    operator_api, viewer_api, anon_api, small_photo
):
    compare(operator_api, small_photo(OBAMA_240P), small_photo(OBAMA_2))

    denied = error_of(
        compare(viewer_api, small_photo(OBAMA_240P), small_photo(OBAMA_2)), 403, "permission_denied"
    )
    error_of(anon_api.get("/api/faces/comparisons/"), 401, "not_authenticated")
    log = viewer_api.get("/api/faces/comparisons/")

    assert "operators" in denied["message"]
    assert log.status_code == 200
    entries = log.json()["results"]
    assert len(entries) == 1
    assert entries[0]["user"] == "olivia"
    assert entries[0]["verdict"] == "match"
    assert entries[0]["has_images"] is False
    detail = viewer_api.get(f"/api/faces/comparisons/{entries[0]['id']}/").json()
    assert detail == entries[0]


def test_the_log_filters_by_verdict(operator_api, small_photo):
    compare(operator_api, small_photo(OBAMA_240P), small_photo(OBAMA_2))
    compare(operator_api, small_photo(OBAMA_240P), small_photo(BIDEN))

    matches = operator_api.get("/api/faces/comparisons/?verdict=match").json()["results"]
    misses = operator_api.get("/api/faces/comparisons/?verdict=no_match").json()["results"]

    assert [entry["verdict"] for entry in matches] == ["match"]
    assert [entry["verdict"] for entry in misses] == ["no_match"]


def test_the_module_root_lists_its_endpoints(viewer_api):
    endpoints = viewer_api.get("/api/faces/").json()["endpoints"]

    assert set(endpoints) == {"compare", "comparisons", "subjects", "references", "search"}
    assert endpoints["compare"].endswith("/api/faces/compare/")


def test_the_schema_documents_multipart_uploads(operator_api):
    schema = operator_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    compare_op = schema["paths"]["/api/faces/compare/"]["post"]
    body = compare_op["requestBody"]["content"]
    assert list(body) == ["multipart/form-data"]
    ref = body["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]
    properties = schema["components"]["schemas"][ref]["properties"]
    assert properties["image_a"]["format"] == "binary"
    assert properties["threshold"]["maximum"] == 2
    assert set(compare_op["responses"]) >= {"200", "400", "403", "413", "422"}
    assert (
        "multipart/form-data"
        in (schema["paths"]["/api/faces/references/"]["post"]["requestBody"]["content"])
    )
    assert (
        "multipart/form-data"
        in (schema["paths"]["/api/faces/search/"]["post"]["requestBody"]["content"])
    )


def test_answers_503_when_the_model_files_are_missing(
    operator_api, client, operator, settings, monkeypatch, tmp_path, small_photo
):
    settings.FACES_DETECT_MAX_SIDE = 999  # a fresh engine, which looks for its models again
    monkeypatch.setenv("FACES_MODELS_DIR", str(tmp_path))
    client.force_login(operator)

    error = error_of(
        compare(operator_api, small_photo(OBAMA), small_photo(OBAMA_2)), 503, "models_unavailable"
    )
    card = client.get("/dashboard/cards/faces/").content.decode()

    assert "administrator" in error["message"]
    assert str(tmp_path) not in error["message"]  # server paths stay in the server's log
    assert 'class="card status-down"' in card
