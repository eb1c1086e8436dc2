"""Threshold calibration and audit on labelled pairs: the logic behind ``manage.py faces_evaluate``.

Reads ``img_a<TAB>img_b<TAB>same_person(1/0)`` lines (a header row and extra columns are
allowed; a header column named ``group``, or another chosen by name, gives each pair an
identity group), encodes every distinct image once, and reports accuracy, false-match and
false-non-match rates at a threshold with 95% Wilson intervals, the equal-error rate, the
threshold meeting a target false-match rate, the same per group, the best threshold on the
data, and optionally a PNG with the distance histograms, ROC and DET curves
(``evaluate_plot``; the text report is ``evaluate_report``). The statistics themselves work on
scored pairs alone (``error_rates``).

``Evaluation.to_dict`` is deterministic: the same input gives the same JSON, byte for byte
(fixed rounding, pairs in file order, groups sorted, durations only with ``timings=True``).
Django-free.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modules.faces.engine.distance import DEFAULT_THRESHOLD
from modules.faces.engine.error_rates import (
    RATE_DIGITS,
    CurvePoint,
    EqualError,
    OperatingPoint,
    ScoredPair,
    TargetFmr,
    curve,
    equal_error_rate,
    rates_at,
    rounded,
    threshold_for_fmr,
)
from modules.faces.engine.errors import ImageError
from modules.faces.engine.evaluate_plot import (
    BEST_COLOR,
    DET_COLOR,
    DIFFERENT_COLOR,
    ROC_COLOR,
    SAME_COLOR,
    THRESHOLD_COLOR,
    plot_layout,
    render_distributions,
)
from modules.faces.engine.evaluate_report import format_report
from modules.faces.engine.options import CompareOptions, Pick
from modules.faces.engine.pipeline import FaceEngine, compare_analyses
from modules.faces.engine.results import FaceAnalysis

__all__ = [
    "BEST_COLOR",
    "DET_COLOR",
    "DIFFERENT_COLOR",
    "GROUP_COLUMN",
    "NO_GROUP",
    "ROC_COLOR",
    "SAME_COLOR",
    "THRESHOLD_COLOR",
    "Evaluation",
    "LabelledPair",
    "PairOutcome",
    "PairsFormatError",
    "best_threshold",
    "evaluate",
    "format_report",
    "plot_layout",
    "read_pairs",
    "render_distributions",
]

_TRUE = frozenset({"1", "true", "yes", "same", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "different", "n", "f"})
GROUP_COLUMN = "group"
NO_GROUP = "(none)"  # the group of a pair whose group cell is empty
DISTANCE_DIGITS = 4


class PairsFormatError(ValueError):
    """A line of the pairs file cannot be read; the message names the line."""


@dataclass(frozen=True)
class LabelledPair:
    a: str
    b: str
    same: bool
    line: int
    group: str | None = None


@dataclass(frozen=True)
class PairOutcome:
    pair: LabelledPair
    distance: float | None  # None when either image failed
    match: bool | None
    error: str | None = None  # an ImageError code (no_face, invalid_image...) or missing_file
    error_image: str | None = None

    @property
    def correct(self) -> bool:
        return self.match is not None and self.match == self.pair.same


@dataclass(frozen=True)
class Evaluation:
    threshold: float
    pick: str
    outcomes: tuple[PairOutcome, ...]
    images: int  # distinct images encoded
    best_threshold: float | None
    best_accuracy: float | None
    seconds: float
    jitters: int = 0
    faces: int = 0  # faces encoded over all images
    target_fmr: float | None = None

    def _scored(self) -> list[PairOutcome]:
        return [outcome for outcome in self.outcomes if outcome.distance is not None]

    def scored_pairs(self) -> list[ScoredPair]:
        return [
            ScoredPair(o.distance, o.pair.same, o.pair.group)
            for o in self.outcomes
            if o.distance is not None
        ]

    @property
    def evaluated(self) -> int:
        return len(self._scored())

    @property
    def errors(self) -> int:
        return len(self.outcomes) - self.evaluated

    @property
    def correct(self) -> int:
        return sum(outcome.correct for outcome in self.outcomes)

    @property
    def same_pairs(self) -> int:
        return sum(outcome.pair.same for outcome in self._scored())

    @property
    def different_pairs(self) -> int:
        return self.evaluated - self.same_pairs

    @property
    def false_matches(self) -> int:
        return self.at_threshold().false_match.errors

    @property
    def false_non_matches(self) -> int:
        return self.at_threshold().false_non_match.errors

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.evaluated if self.evaluated else None

    # One source for the rates: the operating point at the threshold (``rates_at``), which
    # the JSON reports as ``at_threshold``.
    @property
    def false_match_rate(self) -> float | None:
        return self.at_threshold().false_match.value

    @property
    def false_non_match_rate(self) -> float | None:
        return self.at_threshold().false_non_match.value

    @property
    def grouped(self) -> bool:
        return any(o.pair.group is not None for o in self.outcomes)

    def at_threshold(self) -> OperatingPoint:
        return rates_at(self.scored_pairs(), self.threshold)

    def equal_error(self) -> EqualError | None:
        return equal_error_rate(self.scored_pairs())

    def curve(self) -> list[CurvePoint]:
        return curve(self.scored_pairs())

    def target(self) -> TargetFmr | None:
        if self.target_fmr is None:
            return None
        return threshold_for_fmr(self.scored_pairs(), self.target_fmr)

    def groups(self) -> dict[str, dict[str, Any]]:
        """Per identity group, sorted by name: counts and the rates at the threshold."""
        names = sorted({o.pair.group for o in self.outcomes if o.pair.group is not None})
        report: dict[str, dict[str, Any]] = {}
        for name in names:
            outcomes = [o for o in self.outcomes if o.pair.group == name]
            scored = [
                ScoredPair(o.distance, o.pair.same, name)
                for o in outcomes
                if o.distance is not None
            ]
            point = rates_at(scored, self.threshold)
            report[name] = {
                "pairs": len(outcomes),
                "evaluated": len(scored),
                "errors": len(outcomes) - len(scored),
                "same_pairs": point.false_non_match.trials,
                "different_pairs": point.false_match.trials,
                "accuracy": rounded(point.accuracy, RATE_DIGITS),
                "false_match": point.false_match.to_dict(),
                "false_non_match": point.false_non_match.to_dict(),
            }
        return report

    def to_dict(self, *, timings: bool = False) -> dict[str, Any]:
        """Every figure; durations only with ``timings`` (they differ from run to run)."""
        eer = self.equal_error()
        target = self.target()
        report: dict[str, Any] = {
            "threshold": self.threshold,
            "pick": self.pick,
            "jitters": self.jitters,
            "pairs": len(self.outcomes),
            "images": self.images,
            "faces": self.faces,
            "evaluated": self.evaluated,
            "errors": self.errors,
            "same_pairs": self.same_pairs,
            "different_pairs": self.different_pairs,
            "accuracy": rounded(self.accuracy, RATE_DIGITS),
            "at_threshold": self.at_threshold().to_dict(),
            "equal_error_rate": None if eer is None else eer.to_dict(),
            "target_fmr": None if target is None else target.to_dict(),
            "groups": self.groups() if self.grouped else None,
            "best_threshold": self.best_threshold,
            "best_accuracy": rounded(self.best_accuracy, RATE_DIGITS),
            "curve": [
                [
                    rounded(p.threshold, DISTANCE_DIGITS + 2),
                    rounded(p.fmr, RATE_DIGITS),
                    rounded(p.fnmr, RATE_DIGITS),
                ]
                for p in self.curve()
            ],
            "outcomes": [
                {
                    "line": o.pair.line,
                    "a": o.pair.a,
                    "b": o.pair.b,
                    "same": o.pair.same,
                    "group": o.pair.group,
                    "distance": rounded(o.distance, DISTANCE_DIGITS),
                    "match": o.match,
                    "correct": o.correct,
                    "error": o.error,
                    "error_image": o.error_image,
                }
                for o in self.outcomes
            ],
        }
        if timings:
            report["timings"] = self.timings()
        return report

    def timings(self) -> dict[str, float | None]:
        def per(count: int) -> float | None:
            return round(self.seconds * 1000 / count, 1) if count else None

        return {
            "seconds": round(self.seconds, 2),
            "ms_per_image": per(self.images),
            "ms_per_face": per(self.faces),
            "ms_per_pair": per(len(self.outcomes)),
        }


def read_pairs(
    source: str | os.PathLike[str] | Iterable[str], *, group_column: str | None = None
) -> list[LabelledPair]:
    """Parse a pairs file (path or lines). Blank lines and ``#`` comments are skipped; the
    first row is taken as a header when its third column is not a 1/0 label.

    A header column named ``group_column`` (default ``group``, any case) gives each pair its
    identity group; an empty cell is the group ``(none)``. Asking for a ``group_column`` the
    header does not have is an error; without one, pairs have no group."""
    if isinstance(source, str | os.PathLike):
        with open(source, encoding="utf-8-sig") as handle:
            lines = handle.read().splitlines()
    else:
        lines = list(source)
    wanted = (group_column or GROUP_COLUMN).strip().lower()
    group_index: int | None = None
    pairs: list[LabelledPair] = []
    seen_row = False
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        columns = line.split("\t")
        label = columns[2].strip().lower() if len(columns) >= 3 else ""
        first_row, seen_row = not seen_row, True
        if label in _TRUE or label in _FALSE:
            if first_row and group_column is not None:
                raise PairsFormatError(
                    f"line {number}: no header row naming the group column {group_column!r}"
                )
            if not columns[0].strip() or not columns[1].strip():
                raise PairsFormatError(f"line {number}: an image path is empty")
            group = None
            if group_index is not None:
                cell = columns[group_index].strip() if group_index < len(columns) else ""
                group = cell or NO_GROUP
            pairs.append(
                LabelledPair(columns[0].strip(), columns[1].strip(), label in _TRUE, number, group)
            )
        elif first_row and len(columns) >= 3:
            names = [name.strip().lower() for name in columns]
            if wanted in names[3:]:
                group_index = names.index(wanted, 3)
            elif group_column is not None:
                raise PairsFormatError(
                    f"line {number}: the header has no column {group_column!r} "
                    f"(columns: {', '.join(c.strip() for c in columns)})"
                )
        else:
            raise PairsFormatError(
                f"line {number}: expected img_a<TAB>img_b<TAB>1 or 0, got {line[:80]!r}"
            )
    return pairs


def evaluate(
    pairs: Sequence[LabelledPair],
    *,
    root: str | os.PathLike[str] = ".",
    threshold: float = DEFAULT_THRESHOLD,
    pick: Pick = "largest",
    engine: FaceEngine | None = None,
    progress: Callable[[int, int], None] | None = None,
    target_fmr: float | None = None,
) -> Evaluation:
    """Encode each distinct image once (in file order), then score every pair at
    ``threshold``. The engine's ``num_jitters`` is the encoder's."""
    options = CompareOptions(threshold=threshold, pick=pick)
    if target_fmr is not None and not 0 < target_fmr < 1:
        raise ValueError("target_fmr must be between 0 and 1")
    engine = engine or FaceEngine()
    names = list(dict.fromkeys(name for pair in pairs for name in (pair.a, pair.b)))
    if names:
        engine.load()  # the one-off model load is not part of the time per image
    started = time.perf_counter()
    base = Path(root)
    analyses: dict[str, FaceAnalysis | str] = {}
    for done, name in enumerate(names, start=1):
        analyses[name] = _analyze(engine, base / name, name)
        if progress is not None:
            progress(done, len(names))
    outcomes = [_score(pair, analyses, options) for pair in pairs]
    scored = [(o.distance, o.pair.same) for o in outcomes if o.distance is not None]
    best = best_threshold(scored)
    return Evaluation(
        threshold=threshold,
        pick=pick,
        outcomes=tuple(outcomes),
        images=len(names),
        best_threshold=best[0] if best else None,
        best_accuracy=best[1] if best else None,
        seconds=time.perf_counter() - started,
        jitters=engine.num_jitters,
        faces=sum(len(a.faces) for a in analyses.values() if not isinstance(a, str)),
        target_fmr=target_fmr,
    )


def _analyze(engine: FaceEngine, path: Path, name: str) -> FaceAnalysis | str:
    try:
        with open(path, "rb") as handle:
            return engine.analyze(handle, which=name)
    except FileNotFoundError:
        return "missing_file"
    except ImageError as exc:
        return exc.code


def _score(
    pair: LabelledPair, analyses: dict[str, FaceAnalysis | str], options: CompareOptions
) -> PairOutcome:
    found: list[FaceAnalysis] = []
    for name in (pair.a, pair.b):
        analysis = analyses[name]
        if isinstance(analysis, str):
            return PairOutcome(pair, None, None, error=analysis, error_image=name)
        if not analysis.faces:
            return PairOutcome(pair, None, None, error="no_face", error_image=name)
        found.append(analysis)
    comparison = compare_analyses(found[0], found[1], options)
    return PairOutcome(pair, comparison.distance, comparison.match)


def best_threshold(scored: Sequence[tuple[float, bool]]) -> tuple[float, float] | None:
    """The threshold with the best accuracy on (distance, same_person) data.

    Candidates sit halfway between consecutive distinct distances (and just outside both
    ends); among equally accurate ones the middle of the widest gap wins, because it is the
    least sensitive to new data. Returns (threshold, accuracy).
    """
    if not scored:
        return None
    ordered = sorted(scored)
    total_different = sum(not same for _, same in ordered)
    # Start below every distance: all pairs "no match", so only different pairs are right.
    same_below = different_below = 0
    best = (total_different / len(ordered), 0.0, ordered[0][0] - 0.01)  # accuracy, gap, value
    index = 0
    while index < len(ordered):
        distance = ordered[index][0]
        while index < len(ordered) and ordered[index][0] == distance:
            same_below += ordered[index][1]
            different_below += not ordered[index][1]
            index += 1
        upper = ordered[index][0] if index < len(ordered) else distance + 0.02
        correct = same_below + (total_different - different_below)
        key = (correct / len(ordered), upper - distance, (distance + upper) / 2)
        if key[:2] > best[:2]:
            best = key
    return round(best[2], 4), best[0]
