from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from modules.faces.engine import FaceEngine
from modules.faces.engine.evaluate import (
    DIFFERENT_COLOR,
    SAME_COLOR,
    LabelledPair,
    PairsFormatError,
    best_threshold,
    evaluate,
    format_report,
    read_pairs,
    render_distributions,
)


def test_reads_pairs_with_a_header_comments_and_extra_columns():
    lines = [
        "img_a\timg_b\tsame_person\tsubset",
        "",
        "# a comment",
        "a.jpg\tb.jpg\t1\tfr",
        "a.jpg\tc.png\t0",
    ]

    assert read_pairs(lines) == [
        LabelledPair("a.jpg", "b.jpg", True, 4),
        LabelledPair("a.jpg", "c.png", False, 5),
    ]


@pytest.mark.parametrize(
    "line", ["a.jpg\tb.jpg\tmaybe", "a.jpg b.jpg 1", "\tb.jpg\t1"], ids=["label", "spaces", "empty"]
)
def test_names_the_line_it_cannot_read(line: str):
    with pytest.raises(PairsFormatError, match="line 2"):
        read_pairs(["a.jpg\tb.jpg\t1", line])


def test_finds_the_best_threshold_in_the_widest_gap():
    scored = [(0.2, True), (0.4, True), (0.5, False), (0.9, False), (0.45, True)]

    assert best_threshold(scored) == (0.475, 1.0)
    assert best_threshold([(0.3, True), (0.5, False), (0.4, False)]) == (0.35, 1.0)
    assert best_threshold([]) is None


@pytest.mark.slow
def test_classifies_every_labelled_pair_correctly_at_the_default_threshold(
    faces_dir: Path, engine: FaceEngine
):
    pairs = read_pairs(faces_dir / "pairs.tsv")

    evaluation = evaluate(pairs, root=faces_dir, threshold=0.6, engine=engine)

    report = format_report(evaluation)
    assert len(pairs) == 127
    assert evaluation.errors == 0, report
    assert evaluation.correct == 127, report
    assert evaluation.accuracy == 1.0
    assert evaluation.false_match_rate == evaluation.false_non_match_rate == 0.0
    assert evaluation.images == len({name for p in pairs for name in (p.a, p.b)})
    assert evaluation.best_accuracy == 1.0
    assert evaluation.best_threshold is not None
    assert 0.5 < evaluation.best_threshold < 0.7


def test_counts_unreadable_images_apart(faces_dir: Path, engine: FaceEngine):
    pairs = read_pairs(
        [
            "face_recognition/examples_obama.jpg\tface_recognition/examples_obama2.jpg\t1",
            "face_recognition/examples_obama.jpg\tdlib_faces/dogs.jpg\t0",
            "face_recognition/examples_obama.jpg\tnowhere/missing.jpg\t0",
        ]
    )

    evaluation = evaluate(pairs, root=faces_dir, engine=engine)

    assert [(o.error, o.error_image) for o in evaluation.outcomes] == [
        (None, None),
        ("no_face", "dlib_faces/dogs.jpg"),
        ("missing_file", "nowhere/missing.jpg"),
    ]
    assert (evaluation.evaluated, evaluation.errors, evaluation.accuracy) == (1, 2, 1.0)
    assert evaluation.false_match_rate is None
    assert "no_face in dlib_faces/dogs.jpg" in format_report(evaluation)
    assert evaluation.to_dict()["outcomes"][2]["error"] == "missing_file"


def test_draws_both_distance_distributions(faces_dir: Path, engine: FaceEngine):
    pairs = read_pairs(
        [
            "face_recognition/examples_obama.jpg\tface_recognition/examples_obama2.jpg\t1",
            "face_recognition/examples_obama.jpg\tface_recognition/examples_biden.jpg\t0",
        ]
    )
    evaluation = evaluate(pairs, root=faces_dir, engine=engine)

    png = render_distributions(evaluation, width=600, height=300)

    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", (600, 300))
    colors = {color for _, color in image.convert("RGB").getcolors(maxcolors=100_000)}
    assert SAME_COLOR in colors
    assert DIFFERENT_COLOR in colors
