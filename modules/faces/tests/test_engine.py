from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from modules.faces.engine import (
    CompareOptions,
    FaceEngine,
    ImageTooLargeError,
    InvalidImageError,
    NoFaceError,
    descriptor_from_bytes,
    descriptor_to_bytes,
    face_distance,
    search,
    similarity,
)
from modules.faces.engine.dlib_models import MODEL_FILES, ModelsNotFoundError, find_models_dir
from modules.faces.tests.fixtures import REPO_ROOT
from modules.faces.tests.images import encode_image, with_orientation
from portal.errors import PortalError

OBAMA = "face_recognition/examples_obama.jpg"
OBAMA_2 = "face_recognition/examples_obama2.jpg"
OBAMA_480P = "face_recognition/examples_obama-480p.jpg"
OBAMA_240P = "face_recognition/examples_obama-240p.jpg"
OBAMA_RGBA = "face_recognition/tests_test_images_32bit.png"
OBAMA_PARTIAL = "face_recognition/tests_test_images_obama_partial_face.jpg"
BIDEN = "face_recognition/examples_biden.jpg"
OBAMA_AND_BIDEN = "face_recognition/examples_knn_examples_test_obama_and_biden.jpg"
DOGS = "dlib_faces/dogs.jpg"

Photo = Callable[[str], bytes]


def upright(photo: Photo, name: str) -> Image.Image:
    return Image.open(io.BytesIO(photo(name))).convert("RGB")


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )


def test_imports_without_dlib_or_numpy():
    result = run_python(
        "import sys\n"
        "import modules.faces.engine, modules.faces.engine.evaluate\n"
        "print(sorted(m for m in ('dlib', 'numpy', 'face_recognition_models') if m in sys.modules))"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_loads_the_models_without_importing_their_package():
    result = run_python(
        "import sys\n"
        "from modules.faces.engine import FaceEngine\n"
        "FaceEngine().load()\n"
        "print('dlib' in sys.modules, 'face_recognition_models' in sys.modules,"
        " 'pkg_resources' in sys.modules)"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", "False"]


def test_takes_the_models_directory_from_an_argument_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    packaged = find_models_dir()
    for name in MODEL_FILES:
        (tmp_path / name).symlink_to(packaged / name)
    empty = tmp_path / "empty"
    empty.mkdir()

    assert find_models_dir(tmp_path) == tmp_path
    monkeypatch.setenv("FACES_MODELS_DIR", str(tmp_path))
    assert find_models_dir() == tmp_path
    with pytest.raises(ModelsNotFoundError, match="FACES_MODELS_DIR"):
        FaceEngine(models_dir=empty).load()


def test_matches_two_photos_of_the_same_person(engine: FaceEngine, photo: Photo):
    result = engine.compare(photo(OBAMA), photo(OBAMA_2))

    assert result.match
    assert result.distance < 0.5
    assert result.similarity > 50
    assert result.pair == (0, 0)
    assert result.warnings == ()
    assert result.model == "dlib_face_recognition_resnet_model_v1"


def test_does_not_match_two_different_people(engine: FaceEngine, photo: Photo):
    result = engine.compare(photo(OBAMA), photo(BIDEN))

    assert not result.match
    assert result.distance > 0.6
    assert result.similarity < 50


def test_reports_boxes_quality_and_timings(engine: FaceEngine, photo: Photo):
    result = engine.compare(io.BytesIO(photo(OBAMA)), photo(OBAMA_2), threshold=0.5)
    data = json.loads(json.dumps(result.to_dict()))

    face = result.faces_a[0]
    assert face.descriptor.shape == (128,)
    assert len(face.landmarks) == 5
    assert face.box.left < face.landmarks[0][0] < face.box.right
    assert face.score > 0
    assert not face.quality.blurry
    assert not face.quality.too_small
    assert data["threshold"] == 0.5
    assert data["image_a"] == {"width": 910, "height": 1137, "format": "JPEG", "orientation": 1}
    assert set(data["faces_b"][0]["box"]) == {"left", "top", "right", "bottom", "width", "height"}
    assert "descriptor" not in data["faces_a"][0]
    assert set(data["timings_ms"]) == {"decode", "detect", "encode", "total"}
    assert data["timings_ms"]["total"] >= data["timings_ms"]["detect"] > 0


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_matches_exif_rotated_copies(engine: FaceEngine, photo: Photo, orientation: int):
    rotated = with_orientation(upright(photo, OBAMA), orientation)

    result = engine.compare(rotated, photo(OBAMA_2))

    assert result.image_a.orientation == orientation
    assert (result.image_a.width, result.image_a.height) == (910, 1137)
    assert result.match


def test_matches_an_rgba_png(engine: FaceEngine, photo: Photo):
    result = engine.compare(photo(OBAMA_RGBA), photo(OBAMA))

    assert result.image_a.format == "PNG"
    assert result.match


def test_matches_a_grayscale_copy(engine: FaceEngine, photo: Photo):
    gray = encode_image(upright(photo, OBAMA).convert("L"), "JPEG", quality=92)

    assert engine.compare(gray, photo(OBAMA_2)).match


def test_matches_webp_bytes_named_jpg(engine: FaceEngine, photo: Photo):
    upload = io.BytesIO(encode_image(upright(photo, OBAMA), "WEBP", quality=90))
    upload.name = "obama.jpg"

    result = engine.compare(upload, photo(OBAMA_2))

    assert result.image_a.format == "WEBP"
    assert result.match


def test_finds_the_closest_pair_with_pick_best(engine: FaceEngine, photo: Photo):
    result = engine.compare(photo(OBAMA_AND_BIDEN), photo(BIDEN), pick="best")

    assert result.match
    assert len(result.faces_a) == 3
    biden = result.faces_a[result.pair[0]]
    assert biden.box.left < 1000  # Biden stands on the left of this photo
    assert [w.code for w in result.warnings] == ["several_faces"]
    assert result.warnings[0].which == "a"
    assert result.warnings[0].face == result.pair[0]
    # Texts number faces from 1, as the labels A1, A2... do; the data keeps the index.
    assert result.warnings[0].message == (
        f"image A shows 3 faces; face {result.pair[0] + 1} was compared."
    )


def test_compares_the_largest_faces_with_pick_largest(engine: FaceEngine, photo: Photo):
    result = engine.compare(photo(OBAMA_AND_BIDEN), photo(BIDEN))

    # The largest box in this photo is Obama's (Biden's is a few pixels smaller).
    largest = max(result.faces_a, key=lambda face: face.box.area)
    assert result.pair == (largest.index, 0)
    assert largest.box.left > 1000
    assert not result.match
    assert "several_faces" in [w.code for w in result.warnings]


def test_says_which_image_has_no_face(engine: FaceEngine, photo: Photo):
    plain = encode_image(Image.new("RGB", (640, 480), (90, 140, 200)), "PNG")

    with pytest.raises(NoFaceError) as in_b:
        engine.compare(photo(OBAMA), photo(DOGS))
    with pytest.raises(NoFaceError) as in_a:
        engine.compare(plain, photo(OBAMA))

    assert in_b.value.which == "b"
    assert in_a.value.which == "a"
    assert in_a.value.as_dict() == {
        "code": "no_face",
        "message": "No face was found.",
        "details": {"which": "a"},
    }


def test_says_which_image_is_invalid(engine: FaceEngine, photo: Photo):
    data = photo(OBAMA)

    with pytest.raises(InvalidImageError) as truncated:
        engine.compare(data[: len(data) // 3], data)
    with pytest.raises(InvalidImageError) as not_image:
        engine.compare(data, b"GIF89a but not really")

    assert truncated.value.which == "a"
    assert not_image.value.which == "b"


def test_applies_its_size_limits(photo: Photo):
    strict = FaceEngine(max_bytes=150_000, max_pixels=200_000)

    with pytest.raises(ImageTooLargeError) as too_many_bytes:
        strict.compare(photo(OBAMA_240P), photo(OBAMA))  # 37 kB and 280 kB
    with pytest.raises(ImageTooLargeError) as too_many_pixels:
        strict.compare(photo(OBAMA_480P), photo(OBAMA_240P))  # 853x480 and 427x240

    assert too_many_bytes.value.which == "b"
    assert too_many_bytes.value.details == {
        "max_bytes": 150_000,
        "which": "b",
    }  # as clients get them
    assert too_many_pixels.value.which == "a"
    assert too_many_pixels.value.details["max_pixels"] == 200_000


def test_maps_boxes_back_to_the_pixels_of_a_large_image(engine: FaceEngine, photo: Photo):
    small_image = upright(photo, OBAMA_480P)  # 853x480: detected as is
    large_image = small_image.resize((853 * 4, 480 * 4), Image.Resampling.BICUBIC)

    small = engine.analyze(encode_image(small_image, quality=95)).faces[0].box
    large = engine.analyze(encode_image(large_image, quality=95)).faces[0].box

    assert (large.left + large.right) / 2 == pytest.approx(2 * (small.left + small.right), rel=0.05)
    assert (large.top + large.bottom) / 2 == pytest.approx(2 * (small.top + small.bottom), rel=0.05)
    assert large.width == pytest.approx(4 * small.width, rel=0.2)


def test_looks_closer_only_when_the_downscaled_copy_shows_no_face(engine: FaceEngine, photo: Photo):
    # A 104 px face in a 4000 px frame is 27 px in the 1024 px copy: too small for HOG there.
    canvas = Image.new("RGB", (4000, 3000), (128, 128, 128))
    canvas.paste(upright(photo, "face_recognition/examples_obama_small.jpg"), (2500, 1800))

    far = engine.analyze(encode_image(canvas, quality=90))
    near = engine.analyze(photo("face_recognition/examples_obama-1080p.jpg"))

    assert [p[0] for p in engine.detection_passes(4000, 3000)] == [0.256, 0.512, 1.0]
    assert len(far.faces) == 1
    assert far.detect_scale > 0.256  # the first pass missed it
    assert 2500 < far.faces[0].box.left < far.faces[0].box.right < 2820
    assert (near.detect_scale, near.upsample) == (1024 / 1920, 0)


def test_flags_small_blurry_and_cut_faces(engine: FaceEngine, photo: Photo):
    sharp = upright(photo, OBAMA)
    blurred = encode_image(sharp.filter(ImageFilter.GaussianBlur(6)), quality=95)
    fussy = FaceEngine(min_face_size=100)

    blurry = engine.compare(blurred, photo(OBAMA_2))
    small = fussy.compare(photo(OBAMA_240P), photo(OBAMA_2))
    cut = engine.analyze(photo(OBAMA_PARTIAL)).faces[0]

    assert blurry.faces_a[0].quality.blurry
    assert [(w.code, w.which) for w in blurry.warnings] == [("face_blurry", "a")]
    assert small.faces_a[0].quality.too_small
    assert not engine.analyze(photo(OBAMA_240P)).faces[0].quality.too_small
    assert ("face_too_small", "a") in [(w.code, w.which) for w in small.warnings]
    assert cut.quality.partly_outside
    assert cut.box.left == 0


def test_maps_distance_to_a_similarity_of_50_at_the_threshold():
    distances = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.5]
    scores = [similarity(d, 0.6) for d in distances]

    assert scores[0] == 100
    assert scores[3] == 50
    assert similarity(0.45, 0.45) == 50
    assert scores == sorted(scores, reverse=True)
    assert scores[-2:] == [0, 0]


def test_rejects_bad_options(engine: FaceEngine, photo: Photo):
    with pytest.raises(ValueError, match="pick"):
        engine.compare(photo(OBAMA), photo(OBAMA_2), pick="first")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threshold"):
        engine.compare(photo(OBAMA), photo(OBAMA_2), threshold=0)


def test_searches_a_gallery_for_the_closest_descriptors(engine: FaceEngine, photo: Photo):
    gallery = [
        (name, engine.encode(photo(name))[0].descriptor)
        for name in (
            BIDEN,
            OBAMA,
            "face_recognition/examples_knn_examples_train_rose_leslie_img1.jpg",
        )
    ]
    query = engine.encode(photo(OBAMA_2))[0].descriptor

    hits = search(query, gallery, k=2)

    assert [hit.id for hit in hits] == [OBAMA, BIDEN]
    assert hits[0].match
    assert not hits[1].match
    assert hits[0].distance == pytest.approx(face_distance(query, gallery[1][1]))
    assert search(query, [], k=3) == []


def test_stores_descriptors_as_bytes(engine: FaceEngine, photo: Photo):
    descriptor = engine.encode(photo(OBAMA))[0].descriptor

    data = descriptor_to_bytes(descriptor)

    assert len(data) == 1024
    assert np.array_equal(descriptor_from_bytes(data), descriptor)
    with pytest.raises(ValueError, match="1024 bytes"):
        descriptor_from_bytes(data[:-8])


def test_gives_the_same_answers_from_several_threads(engine: FaceEngine, photo: Photo):
    # Sharing one dlib detector between threads crashes the process (measured: segfault), so
    # this test fails loudly if the engine ever stops giving each thread its own detector.
    names = [OBAMA_480P, OBAMA_240P, "face_recognition/examples_obama_small.jpg"]
    expected = {name: engine.encode(photo(name))[0].descriptor for name in names}
    failures: list[str] = []

    def work(offset: int) -> None:
        for step in range(4):
            name = names[(offset + step) % len(names)]
            try:
                faces = engine.encode(photo(name))
                if not np.array_equal(faces[0].descriptor, expected[name]):
                    failures.append(f"{name}: different descriptor")
            except Exception as exc:  # collected and asserted below, in the main thread
                failures.append(f"{name}: {exc!r}")

    threads = [threading.Thread(target=work, args=(offset,)) for offset in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []


def test_imports_without_django():
    result = run_python(
        "import sys\n"
        "import modules.faces.engine, modules.faces.engine.evaluate\n"
        "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (InvalidImageError("Bad.", which="a"), "invalid_image", 400),
        (ImageTooLargeError("Big.", which="b", max_bytes=1), "image_too_large", 413),
        (NoFaceError("b"), "no_face", 422),
        (ModelsNotFoundError("searched /srv/models"), "models_unavailable", 503),
    ],
)
def test_errors_are_portal_errors_with_their_code_and_status(
    error: PortalError, code: str, status: int
):
    assert isinstance(error, PortalError)
    assert (error.code, error.status) == (code, status)


def test_missing_models_tell_clients_no_server_path():
    error = ModelsNotFoundError("dlib model files not found; searched /srv/models")

    assert "administrator" in error.message
    assert "/srv/models" not in error.message
    assert "/srv/models" in str(error)  # for the log, /readyz and the command line


def test_checks_compare_options_in_one_place():
    with pytest.raises(ValueError, match=r"^threshold must be greater than 0 and at most 2$"):
        CompareOptions(threshold=2.5)
    with pytest.raises(ValueError, match=r"^pick must be one of largest, best$"):
        CompareOptions(pick="first")  # type: ignore[arg-type]
    assert CompareOptions(threshold=2.0, pick="best").threshold == 2.0


def test_times_decoding_of_an_image_read_beforehand(engine: FaceEngine, photo: Photo):
    loaded = engine.read(photo(OBAMA))

    analysis = engine.analyze(loaded, which="a")

    assert analysis.timings_ms.decode == loaded.decode_ms > 0
    assert analysis.timings_ms.total == pytest.approx(
        analysis.timings_ms.decode + analysis.timings_ms.detect + analysis.timings_ms.encode
    )
