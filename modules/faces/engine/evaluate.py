"""Threshold calibration on labelled pairs: the logic behind ``manage.py faces_evaluate``.

Reads ``img_a<TAB>img_b<TAB>same_person(1/0)`` lines (a header row and extra columns are
allowed), encodes every distinct image once, and reports accuracy, false-match and
false-non-match rates at a threshold, the best threshold on the data, and optionally a PNG of
the two distance distributions drawn with Pillow. Django-free.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from modules.faces.engine.distance import DEFAULT_THRESHOLD
from modules.faces.engine.errors import ImageError
from modules.faces.engine.options import CompareOptions, Pick
from modules.faces.engine.pipeline import FaceEngine, compare_analyses
from modules.faces.engine.results import FaceAnalysis

_TRUE = frozenset({"1", "true", "yes", "same", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "different", "n", "f"})


class PairsFormatError(ValueError):
    """A line of the pairs file cannot be read; the message names the line."""


@dataclass(frozen=True)
class LabelledPair:
    a: str
    b: str
    same: bool
    line: int


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

    def _scored(self) -> list[PairOutcome]:
        return [outcome for outcome in self.outcomes if outcome.distance is not None]

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
        return sum(bool(o.match) and not o.pair.same for o in self._scored())

    @property
    def false_non_matches(self) -> int:
        return sum((not o.match) and o.pair.same for o in self._scored())

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.evaluated if self.evaluated else None

    @property
    def false_match_rate(self) -> float | None:
        return self.false_matches / self.different_pairs if self.different_pairs else None

    @property
    def false_non_match_rate(self) -> float | None:
        return self.false_non_matches / self.same_pairs if self.same_pairs else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "pick": self.pick,
            "pairs": len(self.outcomes),
            "images": self.images,
            "evaluated": self.evaluated,
            "errors": self.errors,
            "same_pairs": self.same_pairs,
            "different_pairs": self.different_pairs,
            "accuracy": self.accuracy,
            "false_matches": self.false_matches,
            "false_non_matches": self.false_non_matches,
            "false_match_rate": self.false_match_rate,
            "false_non_match_rate": self.false_non_match_rate,
            "best_threshold": self.best_threshold,
            "best_accuracy": self.best_accuracy,
            "seconds": round(self.seconds, 2),
            "outcomes": [
                {
                    "line": o.pair.line,
                    "a": o.pair.a,
                    "b": o.pair.b,
                    "same": o.pair.same,
                    "distance": None if o.distance is None else round(o.distance, 4),
                    "match": o.match,
                    "correct": o.correct,
                    "error": o.error,
                    "error_image": o.error_image,
                }
                for o in self.outcomes
            ],
        }


def read_pairs(source: str | os.PathLike[str] | Iterable[str]) -> list[LabelledPair]:
    """Parse a pairs file (path or lines). Blank lines and ``#`` comments are skipped; the
    first row is taken as a header when its third column is not a 1/0 label."""
    if isinstance(source, str | os.PathLike):
        with open(source, encoding="utf-8-sig") as handle:
            lines = handle.read().splitlines()
    else:
        lines = list(source)
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
            if not columns[0].strip() or not columns[1].strip():
                raise PairsFormatError(f"line {number}: an image path is empty")
            pairs.append(
                LabelledPair(columns[0].strip(), columns[1].strip(), label in _TRUE, number)
            )
        elif not (first_row and len(columns) >= 3):
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
) -> Evaluation:
    """Encode each distinct image once, then score every pair at ``threshold``."""
    options = CompareOptions(threshold=threshold, pick=pick)
    engine = engine or FaceEngine()
    started = time.perf_counter()
    base = Path(root)
    names = list(dict.fromkeys(name for pair in pairs for name in (pair.a, pair.b)))
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


def format_report(evaluation: Evaluation) -> str:
    """A few lines for a terminal."""

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value * 100:.1f}%"

    lines = [
        f"pairs: {len(evaluation.outcomes)} ({evaluation.same_pairs} same, "
        f"{evaluation.different_pairs} different, {evaluation.errors} not scored), "
        f"images encoded: {evaluation.images}, {evaluation.seconds:.1f} s",
        f"threshold {evaluation.threshold}: accuracy {pct(evaluation.accuracy)}, "
        f"false matches {evaluation.false_matches} ({pct(evaluation.false_match_rate)}), "
        f"false non-matches {evaluation.false_non_matches} "
        f"({pct(evaluation.false_non_match_rate)})",
    ]
    if evaluation.best_threshold is not None:
        lines.append(
            f"best threshold on this data: {evaluation.best_threshold} "
            f"(accuracy {pct(evaluation.best_accuracy)})"
        )
    for outcome in evaluation.outcomes:
        if outcome.error:
            lines.append(f"  line {outcome.pair.line}: {outcome.error} in {outcome.error_image}")
        elif not outcome.correct:
            kind = "false match" if outcome.match else "false non-match"
            lines.append(
                f"  line {outcome.pair.line}: {kind} at distance {outcome.distance:.3f}: "
                f"{outcome.pair.a} vs {outcome.pair.b}"
            )
    return "\n".join(lines)


SAME_COLOR = (46, 160, 67)
DIFFERENT_COLOR = (214, 57, 57)
THRESHOLD_COLOR = (31, 95, 191)
BEST_COLOR = (120, 120, 120)


def render_distributions(
    evaluation: Evaluation, *, width: int = 900, height: int = 420, bin_width: float = 0.025
) -> bytes:
    """PNG histogram of same-person (green) and different-person (red) distances, with the
    threshold (blue) and the best threshold (dashed gray)."""
    scored = [(o.distance, o.pair.same) for o in evaluation.outcomes if o.distance is not None]
    top = max([1.2, evaluation.threshold * 1.5, *(d for d, _ in scored)])
    bins = max(1, int(top / bin_width + 0.999))
    counts = {same: [0] * bins for same in (True, False)}
    for distance, same in scored:
        counts[same][min(bins - 1, int(distance / bin_width))] += 1
    tallest = max([1, *counts[True], *counts[False]])
    left, right, upper, lower = 56, width - 16, 40, height - 44
    image = Image.new("RGB", (width, height), "white")
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    bars = ImageDraw.Draw(layer)
    font = ImageFont.load_default()

    def x_of(distance: float) -> float:
        return left + (right - left) * distance / (bins * bin_width)

    def y_of(count: float) -> float:
        return lower - (lower - upper) * count / tallest

    for same, color in ((False, DIFFERENT_COLOR), (True, SAME_COLOR)):
        for index, count in enumerate(counts[same]):
            if count:
                box = (x_of(index * bin_width), y_of(count), x_of((index + 1) * bin_width), lower)
                bars.rectangle(box, fill=(*color, 150), outline=(*color, 255))
    image.paste(layer, mask=layer)
    draw = ImageDraw.Draw(image)
    draw.line([(left, upper), (left, lower), (right, lower)], fill="black")
    for tenth in range(int(bins * bin_width * 10) + 1):
        x = x_of(tenth / 10)
        draw.line([(x, lower), (x, lower + 4)], fill="black")
        draw.text((x - 8, lower + 6), f"{tenth / 10:.1f}", fill="black", font=font)
    for count in sorted({0, tallest // 2, tallest}):
        draw.text((left - 30, y_of(count) - 6), str(count), fill="black", font=font)
    draw.text((left, lower + 22), "distance between descriptors", fill="black", font=font)
    x = x_of(evaluation.threshold)
    draw.line([(x, upper - 6), (x, lower)], fill=THRESHOLD_COLOR, width=2)
    if evaluation.best_threshold is not None:
        xb = x_of(evaluation.best_threshold)
        for y in range(upper, lower, 10):
            draw.line([(xb, y), (xb, min(lower, y + 5))], fill=BEST_COLOR, width=2)
    legend = [
        (SAME_COLOR, f"same person ({evaluation.same_pairs})"),
        (DIFFERENT_COLOR, f"different people ({evaluation.different_pairs})"),
        (THRESHOLD_COLOR, f"threshold {evaluation.threshold}"),
    ]
    if evaluation.best_threshold is not None:
        legend.append((BEST_COLOR, f"best on this data {evaluation.best_threshold}"))
    cursor = left
    for color, text in legend:
        draw.rectangle((cursor, 12, cursor + 12, 24), fill=color)
        draw.text((cursor + 18, 12), text, fill="black", font=font)
        cursor += 30 + int(draw.textlength(text, font=font))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
