"""faces_evaluate for an audit: rates with Wilson intervals, EER, target FMR, groups, curves.

The statistics are checked on hand-made scored pairs against calculations written out here;
one end-to-end run over fixture photos checks the command (JSON byte for byte, the plot, jitters).
"""

from __future__ import annotations

import io
import json
import math
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from modules.faces.engine.error_rates import (
    ScoredPair,
    curve,
    equal_error_rate,
    rates_at,
    threshold_for_fmr,
    wilson_interval,
)
from modules.faces.engine.evaluate import (
    DET_COLOR,
    ROC_COLOR,
    Evaluation,
    LabelledPair,
    PairOutcome,
    PairsFormatError,
    format_report,
    plot_layout,
    read_pairs,
    render_distributions,
)
from modules.faces.tests.uploads import BIDEN, OBAMA, OBAMA_2

BIDEN_2 = "face_recognition/examples_knn_examples_train_biden_biden2.jpg"

# Ten scored pairs, threshold 0.6 (a pair matches when distance <= threshold):
#   same person:      0.25 a, 0.38 b, 0.47 b, 0.58 a, 0.66 b   -> 0.66 is a false non-match
#   different people: 0.52 a, 0.71 b, 0.74 b, 0.85 a, 0.93 b   -> 0.52 is a false match
SCORED = [
    ScoredPair(0.25, True, "a"),
    ScoredPair(0.38, True, "b"),
    ScoredPair(0.47, True, "b"),
    ScoredPair(0.58, True, "a"),
    ScoredPair(0.66, True, "b"),
    ScoredPair(0.52, False, "a"),
    ScoredPair(0.71, False, "b"),
    ScoredPair(0.74, False, "b"),
    ScoredPair(0.85, False, "a"),
    ScoredPair(0.93, False, "b"),
]
Z = 1.959963984540054  # the 97.5% normal quantile


def hand_made_evaluation(target_fmr: float | None = None) -> Evaluation:
    outcomes = [
        PairOutcome(
            LabelledPair(f"img{i}a.jpg", f"img{i}b.jpg", pair.same, i + 2, pair.group),
            pair.distance,
            pair.distance <= 0.6,
        )
        for i, pair in enumerate(SCORED)
    ]
    unreadable = LabelledPair("img10a.jpg", "missing.jpg", True, 12, "a")
    outcomes.append(PairOutcome(unreadable, None, None, "missing_file", "missing.jpg"))
    return Evaluation(
        threshold=0.6,
        pick="largest",
        outcomes=tuple(outcomes),
        images=22,
        best_threshold=0.62,
        best_accuracy=0.9,
        seconds=1.234,
        target_fmr=target_fmr,
    )


def test_wilson_interval_matches_the_formula_worked_by_hand():
    # 1 error in 5: p = 0.2, z² = 3.841459, z²/n = 0.768292, denominator 1.768292
    # center = (0.2 + 3.841459/10) / 1.768292 = 0.584146 / 1.768292 = 0.3303447
    # half   = Z / 1.768292 * sqrt(0.2*0.8/5 + 3.841459/100) = 1.108394 * 0.2653575 = 0.2941206
    low, high = wilson_interval(1, 5)
    assert low == pytest.approx(0.3303447 - 0.2941206, abs=1e-6)
    assert high == pytest.approx(0.3303447 + 0.2941206, abs=1e-6)
    # No error: the lower end is 0 and the upper one z²/(n + z²), not an empty interval.
    assert wilson_interval(0, 5) == (0.0, pytest.approx(Z**2 / (5 + Z**2)))
    assert wilson_interval(0, 5)[1] == pytest.approx(0.434482, abs=1e-6)
    assert wilson_interval(5, 5) == (pytest.approx(5 / (5 + Z**2)), 1.0)
    # 1 in 2: symmetric around 0.5, half width Z/2.920729 * sqrt(0.125 + 0.240091) = 0.405469
    assert wilson_interval(1, 2) == (
        pytest.approx(0.094531, abs=2e-6),
        pytest.approx(0.905469, abs=2e-6),
    )
    with pytest.raises(ValueError, match="trials"):
        wilson_interval(0, 0)


def test_rates_at_the_threshold_carry_their_intervals():
    point = rates_at(SCORED, 0.6)

    assert (point.false_match.errors, point.false_match.trials) == (1, 5)
    assert (point.false_non_match.errors, point.false_non_match.trials) == (1, 5)
    assert point.accuracy == 0.8
    assert point.to_dict()["false_match"] == {
        "errors": 1,
        "trials": 5,
        "rate": 0.2,
        "ci95": [0.036224, 0.624465],
    }


def test_the_curve_steps_at_each_distinct_distance():
    points = curve(SCORED)

    assert [(p.threshold, p.fmr, p.fnmr) for p in points[:6]] == [
        (None, 0.0, 1.0),  # below every distance nothing matches
        (0.25, 0.0, 0.8),
        (0.38, 0.0, 0.6),
        (0.47, 0.0, 0.4),
        (0.52, 0.2, 0.4),
        (0.58, 0.2, 0.2),
    ]
    assert (points[-1].fmr, points[-1].fnmr) == (1.0, 0.0)
    assert curve([(0.3, True), (0.4, True)]) == []


def test_equal_error_rate_is_the_middle_of_the_range_where_both_rates_agree():
    # From 0.58 (both rates 1/5) until the next distance 0.66 (FNMR drops to 0).
    eer = equal_error_rate(SCORED)

    assert eer is not None
    assert (eer.rate, eer.exact, eer.low, eer.high) == (0.2, True, 0.58, 0.66)
    assert eer.threshold == pytest.approx(0.62)


def test_equal_error_rate_interpolates_across_a_jump():
    # Same 0.3, 0.6; different 0.6, 0.9. Below 0.6: FMR 0, FNMR 1/2; at 0.6: FMR 1/2, FNMR 0.
    # No threshold gives equal rates; the segment (0, .5)-(.5, 0) crosses FMR = FNMR at .25.
    eer = equal_error_rate([(0.3, True), (0.6, True), (0.6, False), (0.9, False)])

    assert eer is not None
    assert (eer.rate, eer.threshold, eer.exact) == (0.25, 0.6, False)
    assert eer.to_dict() == {
        "rate": 0.25,
        "threshold": 0.6,
        "interpolated": True,
        "threshold_range": [0.6, 0.6],
    }


def test_target_fmr_takes_the_largest_threshold_within_it():
    # 1 false match in 5 is allowed at 0.2: FMR is 1/5 from 0.52 up to 0.71 (exclusive); the
    # largest distance below 0.71 is 0.66, where every same-person pair matches.
    target = threshold_for_fmr(SCORED, 0.2)

    assert target is not None
    assert (target.threshold, target.limit) == (0.66, 0.71)
    assert target.point is not None
    assert (target.point.false_match.errors, target.point.false_non_match.errors) == (1, 0)
    # 1 false match in 5: FMR 0.2 on the data, but its 95% upper bound is 62.4%.
    assert not target.supported
    assert target.upper_bound == pytest.approx(0.624465, abs=1e-6)


def test_target_fmr_is_supported_once_the_upper_bound_is_within_it():
    # With no false match among n pairs the Wilson upper bound is z²/(n + z²): <= 0.2 from
    # n = 16 (0.1936), not at 15 (0.2039). The different-person pairs all tie at 0.7, so the
    # largest threshold within 0.2 is 0.3, where none of them matches.
    same = [ScoredPair(0.3, True)] * 3

    for different, supported in ((15, False), (16, True)):
        scored = same + [ScoredPair(0.7, False)] * different
        target = threshold_for_fmr(scored, 0.2)

        assert target is not None
        assert target.point is not None
        assert target.point.false_match.errors == 0
        assert target.needed_pairs == 16
        assert target.supported is supported
        assert (target.note is None) is supported


def test_target_fmr_says_when_the_data_is_too_small_for_it():
    # 0.1 of 5 pairs allows no false match: the threshold stays below 0.52, at 0.47, where
    # 0.58 and 0.66 are missed (FNMR 2/5). 1/0.1 = 10 different-person pairs would be needed.
    target = threshold_for_fmr(SCORED, 0.1)

    assert target is not None
    assert (target.threshold, target.limit) == (0.47, 0.52)
    assert target.point is not None
    assert target.point.false_non_match.value == 0.4
    assert not target.supported
    assert target.needed_pairs == 35  # z²(1 - 0.1)/0.1 = 34.57
    assert target.note == (
        "no false match among 5 different-person pairs: the 95% upper bound of the FMR is "
        "43.45%, above the target 0.1; at least 35 different-person pairs with no false match "
        "are needed"
    )
    assert threshold_for_fmr(SCORED, 0.001).to_dict()["different_pairs_needed"] == 3838  # type: ignore[union-attr]
    nothing = threshold_for_fmr([(0.2, False), (0.3, True)], 0.001)
    assert nothing is not None
    assert (nothing.threshold, nothing.point) == (None, None)


def test_reports_each_identity_group_apart():
    groups = hand_made_evaluation().groups()

    assert list(groups) == ["a", "b"]
    # a: same 0.25, 0.58 (+1 unreadable); different 0.52 (false match), 0.85 -> 3 of 4 right
    assert groups["a"]["pairs"] == 5
    assert groups["a"]["errors"] == 1
    assert (groups["a"]["same_pairs"], groups["a"]["different_pairs"]) == (2, 2)
    assert groups["a"]["accuracy"] == 0.75
    assert groups["a"]["false_match"] == {
        "errors": 1,
        "trials": 2,
        "rate": 0.5,
        "ci95": [0.094531, 0.905469],
    }
    assert groups["a"]["false_non_match"]["rate"] == 0.0
    # b: same 0.38, 0.47, 0.66 (false non-match); different 0.71, 0.74, 0.93 -> 5 of 6 right
    assert groups["b"]["accuracy"] == 0.833333
    assert groups["b"]["false_match"]["ci95"] == [0.0, 0.561497]  # z²/(3 + z²)
    low, high = groups["b"]["false_non_match"]["ci95"]
    p, n = 1 / 3, 3
    center = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n * n))
    assert (low, high) == (round(center - half, 6), round(center + half, 6))


def test_reads_a_group_column_by_its_header_name():
    lines = [
        "img_a\timg_b\tsame_person\tsubset\tGroup",
        "a.jpg\tb.jpg\t1\tfr\tgroup-1",
        "a.jpg\tc.jpg\t0\tfr",
    ]

    assert read_pairs(lines) == [
        LabelledPair("a.jpg", "b.jpg", True, 2, "group-1"),
        LabelledPair("a.jpg", "c.jpg", False, 3, "(none)"),
    ]
    by_subset = read_pairs(lines, group_column="subset")
    assert [pair.group for pair in by_subset] == ["fr", "fr"]
    assert read_pairs(["a.jpg\tb.jpg\t1"]) == [LabelledPair("a.jpg", "b.jpg", True, 1)]
    with pytest.raises(PairsFormatError, match="no column 'origin'"):
        read_pairs(lines, group_column="origin")
    with pytest.raises(PairsFormatError, match="no header row"):
        read_pairs(["a.jpg\tb.jpg\t1"], group_column="group")


def test_the_json_is_stable_and_keeps_durations_behind_a_flag():
    evaluation = hand_made_evaluation(target_fmr=0.001)

    first = json.dumps(evaluation.to_dict(), sort_keys=True, indent=2)
    again = json.dumps(hand_made_evaluation(target_fmr=0.001).to_dict(), sort_keys=True, indent=2)

    assert first == again
    report = json.loads(first)
    assert "timings" not in report
    assert "seconds" not in report
    assert report["equal_error_rate"]["rate"] == 0.2
    assert report["target_fmr"]["supported"] is False
    assert report["at_threshold"]["false_non_match"]["ci95"] == [0.036224, 0.624465]
    assert report["curve"][0] == [None, 0.0, 1.0]
    assert evaluation.to_dict(timings=True)["timings"]["seconds"] == 1.23
    text = format_report(evaluation)
    assert "FMR  20.0% (1/5, 95% CI 3.6%-62.4%)" in text
    assert "equal-error rate: 20.0% at threshold 0.6200" in text
    assert "not supported by this data: no false match among 5 different-person pairs" in text
    assert "  b: 6 pairs (3 same, 3 different, 0 not scored), accuracy 83.3%" in text
    assert "jitters 0: 1.23 s for 22 images (0 faces): 56.1 ms per image" in text
    assert "1.23 s" not in format_report(evaluation, timings=False)


def test_the_plot_has_roc_and_det_panels():
    png = render_distributions(hand_made_evaluation(), width=800, height=800)

    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", (800, 800))
    assert image.text["panels"] == "histogram,roc,det"  # type: ignore[attr-defined]
    pixels = image.convert("RGB").load()
    layout = plot_layout(800, 800)
    for panel, color in (("roc", ROC_COLOR), ("det", DET_COLOR)):
        inside = [
            (x, y)
            for x in range(800)
            for y in range(800)
            if pixels[x, y] == color  # type: ignore[index]
        ]
        left, top, right, bottom = layout[panel]
        assert len(inside) > 50, panel
        assert all(left <= x < right and top <= y < bottom for x, y in inside), panel


# -- the command over fixture photos ---------------------------------------------------------


@pytest.fixture
def grouped_pairs(tmp_path: Path) -> Path:
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(
        "img_a\timg_b\tsame_person\tgroup\n"
        f"{OBAMA}\t{OBAMA_2}\t1\tone\n"
        f"{OBAMA}\t{BIDEN}\t0\tone\n"
        f"{BIDEN}\t{BIDEN_2}\t1\ttwo\n"
        f"{OBAMA_2}\t{BIDEN_2}\t0\ttwo\n"
    )
    return pairs


def run_evaluate(pairs: Path, root: Path, *args: str) -> str:
    out = StringIO()
    call_command(
        "faces_evaluate", str(pairs), "--root", str(root), *args, stdout=out, stderr=StringIO()
    )
    return out.getvalue()


@pytest.mark.slow
@pytest.mark.nodb
def test_the_command_gives_the_same_json_byte_for_byte(
    faces_dir: Path, grouped_pairs: Path, tmp_path: Path
):
    plots = [tmp_path / "first.png", tmp_path / "second.png"]

    outputs = [
        run_evaluate(grouped_pairs, faces_dir, "--json", "--target-fmr", "0.001", "--plot", str(p))
        for p in plots
    ]

    assert outputs[0] == outputs[1]
    assert plots[0].read_bytes() == plots[1].read_bytes()
    report = json.loads(outputs[0])
    assert (report["evaluated"], report["accuracy"], report["jitters"]) == (4, 1.0, 0)
    assert list(report["groups"]) == ["one", "two"]
    assert report["groups"]["two"]["false_match"]["trials"] == 1
    assert report["equal_error_rate"]["rate"] == 0.0
    assert report["target_fmr"]["supported"] is False
    assert report["target_fmr"]["different_pairs_needed"] == 3838
    assert "timings" not in report
    with Image.open(plots[0]) as image:
        assert image.format == "PNG"
        assert image.text["panels"] == "histogram,roc,det"  # type: ignore[attr-defined]
        colors = {color for _, color in image.convert("RGB").getcolors(maxcolors=1_000_000)}
    assert {ROC_COLOR, DET_COLOR} <= colors


@pytest.mark.slow
@pytest.mark.nodb
def test_the_command_encodes_with_jitters_and_reports_their_time(
    faces_dir: Path, grouped_pairs: Path
):
    first = run_evaluate(grouped_pairs, faces_dir, "--json", "--jitters", "2", "--timings")
    again = run_evaluate(grouped_pairs, faces_dir, "--json", "--jitters", "2")

    report = json.loads(first)
    assert (report["jitters"], report["accuracy"]) == (2, 1.0)
    assert report["timings"]["ms_per_pair"] > 0
    # dlib jitters at random, from a generator inside the model: an engine of its own repeats.
    del report["timings"]
    assert json.dumps(report, indent=2, sort_keys=True) + "\n" == again
    plain = json.loads(run_evaluate(grouped_pairs, faces_dir, "--json"))
    jittered = {o["line"]: o["distance"] for o in report["outcomes"]}
    assert jittered != {o["line"]: o["distance"] for o in plain["outcomes"]}


@pytest.mark.nodb
@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--jitters", "-1", "between 0 and 100"),
        ("--jitters", "two", "whole number"),
        ("--target-fmr", "1.5", "less than 1"),
    ],
)
def test_the_command_refuses_bad_audit_options(
    grouped_pairs: Path, option: str, value: str, message: str
):
    with pytest.raises(CommandError, match=message):
        call_command("faces_evaluate", str(grouped_pairs), option, value, stderr=StringIO())


@pytest.mark.nodb
def test_the_command_exits_2_on_a_missing_group_column(grouped_pairs: Path):
    err = StringIO()

    with pytest.raises(SystemExit) as failure:
        call_command("faces_evaluate", str(grouped_pairs), "--group-column", "origin", stderr=err)

    assert failure.value.code == 2
    assert "no column 'origin'" in err.getvalue()
