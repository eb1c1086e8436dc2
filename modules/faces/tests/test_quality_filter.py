"""The quality filter: each check on made-up copies of a fixture photo, at each level, through
the engine, the API and the command line."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from PIL import Image, ImageEnhance, ImageFilter

from modules.faces.engine import (
    CompareOptions,
    FaceAnalysis,
    FaceEngine,
    LowQualityError,
    NoFaceError,
    QualityFilter,
    compare_analyses,
    filter_faces,
)
from modules.faces.engine.pose import roll_and_yaw
from modules.faces.engine.quality import failed_check
from modules.faces.models import Comparison
from modules.faces.tests.images import encode_image
from modules.faces.tests.uploads import upload

SOURCE = "face_recognition/examples_obama-480p.jpg"  # one frontal face, 125 px, sharp
OTHER = "face_recognition/examples_obama.jpg"
COMPARE = "/api/faces/compare/"
LEVELS = (QualityFilter.LOW, QualityFilter.MEDIUM, QualityFilter.HIGH)


def _rotated(image: Image.Image, degrees: float) -> Image.Image:
    return image.rotate(degrees, resample=Image.Resampling.BICUBIC, fillcolor=(128, 128, 128))


def _shrunk(image: Image.Image, side: int) -> Image.Image:
    copy = image.copy()
    copy.thumbnail((side, side), Image.Resampling.LANCZOS)
    return copy


# name: (how the copy is made, the strictest level it passes, the check failing the next one)
COPIES: dict[str, tuple[Callable[[Image.Image], Image.Image], str | None, str | None]] = {
    "original": (lambda image: image, "HIGH", None),
    "blurred": (lambda image: image.filter(ImageFilter.GaussianBlur(2)), "LOW", "sharpness"),
    "very blurred": (lambda image: image.filter(ImageFilter.GaussianBlur(3)), None, "sharpness"),
    "dim": (lambda image: ImageEnhance.Brightness(image).enhance(0.4), "MEDIUM", "exposure"),
    "dark": (lambda image: ImageEnhance.Brightness(image).enhance(0.2), "LOW", "exposure"),
    "very dark": (lambda image: ImageEnhance.Brightness(image).enhance(0.08), None, "exposure"),
    "bright": (lambda image: ImageEnhance.Brightness(image).enhance(1.8), "LOW", "exposure"),
    "overexposed": (lambda image: ImageEnhance.Brightness(image).enhance(2.5), None, "exposure"),
    "small": (lambda image: _shrunk(image, 560), "MEDIUM", "size"),
    "tiny": (lambda image: _shrunk(image, 240), None, "size"),
    "tilted": (lambda image: _rotated(image, 20), "MEDIUM", "roll"),
    "very tilted": (lambda image: _rotated(image, 40), "LOW", "roll"),
}


@pytest.fixture(scope="module")
def source_image(faces_dir: Path) -> Image.Image:
    return Image.open(faces_dir / SOURCE).convert("RGB")


@pytest.fixture(scope="module")
def copies(source_image: Image.Image) -> dict[str, bytes]:
    return {name: encode_image(make(source_image), "PNG") for name, (make, _, _) in COPIES.items()}


@pytest.fixture(scope="module")
def analyses(engine: FaceEngine, copies: dict[str, bytes]) -> dict[str, FaceAnalysis]:
    return {name: engine.analyze(data, which="b") for name, data in copies.items()}


@pytest.fixture(scope="module")
def other(engine: FaceEngine, faces_dir: Path) -> FaceAnalysis:
    image = _shrunk(Image.open(faces_dir / OTHER).convert("RGB"), 480)
    return engine.analyze(encode_image(image, "JPEG", quality=90), which="a")


# -- the measures -----------------------------------------------------------------------------


def test_every_face_reports_its_numbers(analyses):
    quality = analyses["original"].faces[0].quality.to_dict()

    assert quality["size"] == pytest.approx(125, abs=10)
    assert quality["blur"] > 100
    assert 100 < quality["brightness"] < 190
    assert 90 < quality["contrast"] < 150
    assert quality["overexposed"] < 0.01
    assert abs(quality["yaw"]) < 10
    assert abs(quality["roll"]) < 5


def test_each_degradation_moves_only_its_own_measure(analyses):
    base = analyses["original"].faces[0].quality
    blurred = analyses["blurred"].faces[0].quality
    dark = analyses["dark"].faces[0].quality
    tilted = analyses["very tilted"].faces[0].quality

    assert blurred.blur < base.blur / 10
    assert blurred.brightness == pytest.approx(base.brightness, abs=3)
    assert dark.brightness == pytest.approx(base.brightness * 0.2, rel=0.15)
    assert dark.contrast == pytest.approx(base.contrast * 0.2, rel=0.15)
    assert blurred.contrast == pytest.approx(base.contrast, rel=0.15)
    assert analyses["overexposed"].faces[0].quality.overexposed > 0.5
    assert analyses["tiny"].faces[0].quality.size < 40
    # Image.rotate turns counter-clockwise: the eye line's roll is negative, by that angle.
    assert tilted.roll == pytest.approx(-40, abs=4)
    assert abs(tilted.yaw) < 15


def test_roll_and_yaw_follow_the_landmarks_geometry():
    # 5-point layout: image-right eye corners, image-left eye corners, bottom of the nose.
    frontal = [(160, 100), (130, 100), (40, 100), (70, 100), (100, 150)]
    turned = [*frontal[:4], (120, 150)]  # nose 20 px right of the midpoint, eyes 90 px apart
    angle = math.radians(30)  # turned clockwise on screen (y grows downwards)
    tilted = [
        (x * math.cos(angle) - y * math.sin(angle), x * math.sin(angle) + y * math.cos(angle))
        for x, y in turned
    ]
    upside_down = [frontal[2], frontal[3], frontal[0], frontal[1], frontal[4]]

    assert roll_and_yaw(frontal) == pytest.approx((0.0, 0.0))
    assert roll_and_yaw(turned) == pytest.approx((0.0, 33.69), abs=0.01)  # atan(3 * 20 / 90)
    assert roll_and_yaw(tilted) == pytest.approx((30.0, 33.69), abs=0.01)
    assert abs(roll_and_yaw(upside_down)[0]) == pytest.approx(180)
    assert roll_and_yaw(frontal[:2]) == (0.0, 0.0)  # not the 5-point layout


@pytest.mark.parametrize("name", list(COPIES))
@pytest.mark.parametrize("level", LEVELS)
def test_each_copy_passes_up_to_its_level_and_names_the_failed_check(analyses, name, level):
    _, strictest, check = COPIES[name]
    analysis = analyses[name]
    assert len(analysis.faces) == 1, "the degraded copy must still show a detected face"
    passes = strictest is not None and LEVELS.index(level) <= LEVELS.index(QualityFilter(strictest))

    if passes:
        assert filter_faces(analysis, level, which="b").faces == analysis.faces
        return
    with pytest.raises(LowQualityError) as error:
        filter_faces(analysis, level, which="b")
    assert error.value.status == 422
    assert error.value.code == "low_quality"
    assert error.value.check == check
    assert error.value.details["which"] == "b"
    assert error.value.details["quality_filter"] == level.value
    assert "image B" in error.value.message


def test_none_keeps_every_face_and_auto_is_medium(analyses):
    for analysis in analyses.values():
        assert filter_faces(analysis, "NONE") is analysis
    assert filter_faces(analyses["small"], "auto").faces == analyses["small"].faces
    with pytest.raises(LowQualityError) as error:
        filter_faces(analyses["dark"], QualityFilter.AUTO)
    assert error.value.details["quality_filter"] == "AUTO"
    assert error.value.check == "exposure"


def test_the_mean_brightness_of_the_face_decides_nothing(analyses):
    # A darker skin in ordinary light has a low mean luminance but its full contrast: the
    # filter must not refuse it, at any level (docs/faces-quality.md, "Skin tone").
    import dataclasses

    quality = analyses["original"].faces[0].quality
    darker_skin = dataclasses.replace(quality, brightness=45.0)

    assert failed_check(darker_skin, "HIGH") is None
    flat = dataclasses.replace(quality, contrast=30.0)
    assert failed_check(flat, "MEDIUM").check == "exposure"


def test_yaw_beyond_the_level_fails_the_yaw_check(analyses):
    import dataclasses

    quality = analyses["original"].faces[0].quality
    turned = dataclasses.replace(quality, yaw=-38.0)

    assert failed_check(turned, "HIGH").check == "yaw"
    assert failed_check(turned, "MEDIUM") is None


def test_a_bad_level_is_refused_by_the_compare_options():
    with pytest.raises(ValueError, match=r"^quality_filter must be one of NONE, LOW"):
        CompareOptions(quality_filter="STRICT")  # type: ignore[arg-type]
    assert CompareOptions(quality_filter="high").quality_filter is QualityFilter.HIGH  # type: ignore[arg-type]


# -- compare: filtered faces keep their indices ------------------------------------------------


@pytest.fixture(scope="module")
def sharp_and_blurred(engine: FaceEngine, source_image: Image.Image) -> FaceAnalysis:
    """One photo, two faces: a blurred copy on the left (face 0), the sharp one on the right."""
    width, height = source_image.size
    both = Image.new("RGB", (2 * width, height))
    both.paste(source_image.filter(ImageFilter.GaussianBlur(3)), (0, 0))
    both.paste(source_image, (width, 0))
    return engine.analyze(encode_image(both, "PNG"), which="b")


def test_compare_leaves_out_the_poor_face_and_keeps_the_indices(other, sharp_and_blurred):
    boxes = [face.box.left for face in sharp_and_blurred.faces]
    blurred_index = boxes.index(min(boxes))
    sharp_index = boxes.index(max(boxes))

    result = compare_analyses(
        other, sharp_and_blurred, CompareOptions(pick="best", quality_filter="MEDIUM")
    )

    assert result.pair[1] == sharp_index
    assert [face.index for face in result.faces_b] == [sharp_index]
    body = result.to_dict()
    assert body["quality_filter"] == "MEDIUM"
    assert [f["index"] for f in body["filtered_faces_b"]] == [blurred_index]
    assert body["filtered_faces_b"][0]["failed_check"] == "sharpness"
    assert body["filtered_faces_b"][0]["problem"] == "Too blurry"
    assert ("face_filtered", "b", blurred_index, "sharpness") in [
        (w["code"], w.get("which"), w["face"], w.get("check")) for w in body["warnings"]
    ]
    unfiltered = compare_analyses(other, sharp_and_blurred, CompareOptions(pick="best"))
    assert unfiltered.distance == pytest.approx(result.distance)
    assert unfiltered.to_dict()["filtered_faces_b"] == []


# -- through the API and the command line -----------------------------------------------------


def _compare(client, a: bytes, b: bytes, **fields):
    data = {"image_a": upload(a, "a.png"), "image_b": upload(b, "b.png"), **fields}
    return client.post(COMPARE, data, format="multipart")


@pytest.fixture(scope="module")
def sharp_photo(source_image: Image.Image) -> bytes:
    return encode_image(source_image, "JPEG", quality=90)


def test_the_api_answers_422_low_quality_naming_the_photo_and_check(
    operator_api, copies, sharp_photo
):
    response = _compare(operator_api, sharp_photo, copies["very blurred"], quality_filter="LOW")

    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "low_quality"
    assert error["details"]["which"] == "b"
    assert error["details"]["check"] == "sharpness"
    assert error["details"]["problem"] == "Too blurry"
    assert error["details"]["limit"] == 5.0
    assert "image B" in error["message"]
    log = Comparison.objects.get()
    assert (log.verdict, log.error_code, log.error_which) == ("error", "low_quality", "b")
    assert (log.quality_filter, log.faces_b) == ("LOW", 1)


def test_the_api_compares_without_filtering_by_default(operator_api, copies, sharp_photo):
    response = _compare(operator_api, sharp_photo, copies["blurred"])

    body = response.json()
    assert response.status_code == 200, response.content
    assert body["quality_filter"] == "NONE"
    assert body["match"] is True
    assert body["filtered_faces_a"] == body["filtered_faces_b"] == []
    assert set(body["faces_b"][0]["quality"]) >= {
        "size",
        "blur",
        "brightness",
        "contrast",
        "overexposed",
        "yaw",
        "roll",
    }
    assert Comparison.objects.get(pk=body["id"]).quality_filter == "NONE"


def test_the_api_takes_the_level_in_any_case_and_refuses_others(operator_api, copies, sharp_photo):
    accepted = _compare(operator_api, sharp_photo, copies["small"], quality_filter="auto")
    refused = _compare(operator_api, sharp_photo, copies["small"], quality_filter="STRICT")

    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["quality_filter"] == "AUTO"
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "validation_error"
    assert "quality_filter" in json.dumps(refused.json()["error"]["details"])


def _run_compare(*args: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("faces_compare", *args, stdout=out, stderr=err)
    return exit_info.value.code, out.getvalue(), err.getvalue()


def test_the_command_line_takes_quality_filter(db, copies, sharp_photo, tmp_path: Path):
    (tmp_path / "a.jpg").write_bytes(sharp_photo)
    (tmp_path / "b.png").write_bytes(copies["tilted"])
    a, b = str(tmp_path / "a.jpg"), str(tmp_path / "b.png")

    medium = _run_compare(a, b, "--quality-filter", "medium", "--json")
    high = _run_compare(a, b, "--quality-filter", "HIGH")

    assert medium[0] == 0
    assert json.loads(medium[1])["quality_filter"] == "MEDIUM"
    assert high[0] == 2
    assert high[2].startswith("error: low_quality (image B): The face in image B fails the HIGH")
    assert "tilted" in high[2]
    assert list(Comparison.objects.values_list("quality_filter", flat=True)) == ["HIGH", "MEDIUM"]


def test_a_photo_without_faces_is_still_no_face(engine: FaceEngine, other):
    blank = engine.analyze(encode_image(Image.new("RGB", (200, 200), "white"), "PNG"))
    assert filter_faces(blank, "HIGH") is blank
    with pytest.raises(NoFaceError):
        compare_analyses(other, blank, CompareOptions(quality_filter="HIGH"))


@pytest.mark.slow
def test_every_labelled_fixture_photo_passes_medium(engine: FaceEngine, faces_dir: Path):
    """The calibration's promise (docs/faces-quality.md): good photos are not refused at the
    recommended level, so filtering at AUTO keeps the pipeline's accuracy on the pairs."""
    with (faces_dir / "pairs.tsv").open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    photos = sorted({row[key] for row in rows for key in ("img_a", "img_b")})

    refused = {}
    for name in photos:
        analysis = engine.analyze((faces_dir / name).read_bytes())
        try:
            filter_faces(analysis, QualityFilter.AUTO)
        except LowQualityError as error:
            refused[name] = error.message
        assert analysis.faces, name

    assert len(photos) >= 20
    assert refused == {}
