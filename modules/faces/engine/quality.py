"""Face quality: measured once per face, worded once, and filtered by level.

Measures (``assess``): size (shorter side of the face box, pixels), sharpness (variance of the
Laplacian on the aligned chip), exposure (contrast: p95 - p5 of the chip's luminance, and the
share of pixels clipped white), pose (roll and yaw, ``pose.py``). Mean brightness is reported
but never filtered on: it measures skin tone as much as light (docs/faces-quality.md).
``QualityFilter`` levels turn them into a pass or the first failed check, as
Rekognition's ``QualityFilter`` does; the thresholds are calibrated on the labelled fixtures
(docs/faces-quality.md, ``bench/faces_quality.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from modules.faces.engine.errors import LowQualityError
from modules.faces.engine.pose import roll_and_yaw
from modules.faces.engine.results import (
    Box,
    Face,
    FaceAnalysis,
    FaceQuality,
    FaceWarning,
    Rejection,
)

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MIN_FACE_SIZE = 50
DEFAULT_BLUR_THRESHOLD = 15.0
_LUMA = (0.299, 0.587, 0.114)
CLIPPED_WHITE = 250  # luminance from which a pixel counts as burnt out


def assess(
    box: Box,
    chip: np.ndarray,
    *,
    landmarks: Sequence[tuple[float, float]],
    partly_outside: bool,
    min_face_size: int,
    blur_threshold: float,
    np: Any,
) -> FaceQuality:
    gray = chip.astype(np.float64) @ np.array(_LUMA)
    blur = laplacian_variance(gray)
    low, high = np.percentile(gray, (5, 95))
    roll, yaw = roll_and_yaw(landmarks)
    size = min(box.width, box.height)
    return FaceQuality(
        too_small=size < min_face_size,
        blur=blur,
        blurry=blur < blur_threshold,
        partly_outside=partly_outside,
        size=size,
        brightness=float(gray.mean()),
        contrast=float(high - low),
        overexposed=float((gray >= CLIPPED_WHITE).mean()),
        yaw=yaw,
        roll=roll,
    )


def laplacian_variance(gray: np.ndarray) -> float:
    """Sharpness of the aligned 150x150 chip (luminance), so the value does not depend on
    photo size."""
    laplacian = (
        gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4 * gray[1:-1, 1:-1]
    )
    return float(laplacian.var())


# -- the quality filter -----------------------------------------------------------------------


class QualityFilter(StrEnum):
    """How strict the face filter is, named as Rekognition names its levels.

    NONE keeps every face (compare's default, as Rekognition's CompareFaces); AUTO is the level
    Portal recommends, MEDIUM."""

    NONE = "NONE"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    AUTO = "AUTO"

    @classmethod
    def parse(cls, value: QualityFilter | str) -> QualityFilter:
        """The level for a name in any case; ValueError naming the choices otherwise."""
        try:
            return cls(str(value).strip().upper())
        except ValueError:
            choices = ", ".join(level.value for level in cls)
            raise ValueError(f"quality_filter must be one of {choices}") from None

    @property
    def effective(self) -> QualityFilter:
        return RECOMMENDED if self is QualityFilter.AUTO else self


RECOMMENDED = QualityFilter.MEDIUM
QUALITY_FILTERS: tuple[str, ...] = tuple(level.value for level in QualityFilter)


@dataclass(frozen=True)
class Thresholds:
    min_size: int  # pixels, shorter side of the face box
    min_sharpness: float  # variance of the Laplacian on the chip
    min_contrast: float  # p95 - p5 of the chip's luminance (0-255)
    max_overexposed: float  # share of the chip's pixels clipped white
    max_yaw: float  # degrees, either way
    max_roll: float


# Calibrated on the labelled fixtures: see docs/faces-quality.md for the measured distributions.
THRESHOLDS: dict[QualityFilter, Thresholds] = {
    QualityFilter.LOW: Thresholds(40, 5.0, 15.0, 0.50, 60.0, 45.0),
    QualityFilter.MEDIUM: Thresholds(60, 15.0, 40.0, 0.25, 45.0, 30.0),
    QualityFilter.HIGH: Thresholds(100, 40.0, 70.0, 0.15, 30.0, 15.0),
}


@dataclass(frozen=True)
class Failure:
    check: str  # size | exposure | sharpness | yaw | roll
    problem: str  # for an overlay on the photo
    value: float
    limit: float
    text: str  # "is too blurry (sharpness 8.1, at least 15 needed)"


def failed_check(quality: FaceQuality, level: QualityFilter | str) -> Failure | None:
    """The first check a face fails at ``level``, in the order size, exposure, sharpness, yaw,
    roll: an under-exposed face is also a blurry-looking one (the Laplacian variance falls with
    the square of the contrast), and the light is what the user can fix."""
    level = QualityFilter.parse(level).effective
    if level is QualityFilter.NONE:
        return None
    limits = THRESHOLDS[level]
    if quality.size < limits.min_size:
        return Failure(
            "size",
            "Face too small",
            quality.size,
            limits.min_size,
            f"is too small ({quality.size} px, at least {limits.min_size} px needed)",
        )
    if quality.overexposed > limits.max_overexposed:
        share = quality.overexposed * 100
        return Failure(
            "exposure",
            "Too bright",
            round(quality.overexposed, 3),
            limits.max_overexposed,
            f"is overexposed ({share:.0f}% of it burnt out white, at most "
            f"{limits.max_overexposed * 100:g}% allowed)",
        )
    if quality.contrast < limits.min_contrast:
        return Failure(
            "exposure",
            "Too dark or flat",
            round(quality.contrast, 1),
            limits.min_contrast,
            f"is under-exposed or flat (contrast {quality.contrast:.0f}, at least "
            f"{limits.min_contrast:g} needed)",
        )
    if quality.blur < limits.min_sharpness:
        return Failure(
            "sharpness",
            "Too blurry",
            round(quality.blur, 1),
            limits.min_sharpness,
            f"is too blurry (sharpness {quality.blur:.1f}, at least {limits.min_sharpness:g} "
            "needed)",
        )
    if abs(quality.yaw) > limits.max_yaw:
        return Failure(
            "yaw",
            "Face turned away",
            round(quality.yaw, 1),
            limits.max_yaw,
            f"is turned away (yaw {quality.yaw:.0f} degrees, at most {limits.max_yaw:g})",
        )
    if abs(quality.roll) > limits.max_roll:
        return Failure(
            "roll",
            "Head tilted",
            round(quality.roll, 1),
            limits.max_roll,
            f"is tilted (roll {quality.roll:.0f} degrees, at most {limits.max_roll:g})",
        )
    return None


def filter_faces(
    analysis: FaceAnalysis, level: QualityFilter | str, *, which: str | None = None
) -> FaceAnalysis:
    """The analysis with only the faces that pass ``level`` (indices kept; the others in
    ``rejected``). Raises LowQualityError when faces were found but none passes; a photo
    without any face is returned as it is (the caller answers no_face).

    ``which`` names the photo in the error ("a", "b", "image"); default ``analysis.which``."""
    level = QualityFilter.parse(level)
    if level.effective is QualityFilter.NONE or not analysis.faces:
        return analysis
    which = which or analysis.which
    kept: list[Face] = []
    rejected: list[Rejection] = list(analysis.rejected)
    failures: dict[int, Failure] = {}
    for face in analysis.faces:
        failure = failed_check(face.quality, level)
        if failure is None:
            kept.append(face)
            continue
        failures[face.index] = failure
        rejected.append(
            Rejection(
                face, failure.check, failure.problem, f"{_the_face(face, which)} {failure.text}."
            )
        )
    if not kept:
        largest = max(analysis.faces, key=lambda face: (face.box.area, face.score))
        failure = failures[largest.index]
        photo = f"image {which.upper()}" if which and len(which) == 1 else "the photo"
        several = len(analysis.faces) > 1
        subject = f"No face in {photo} passes" if several else f"The face in {photo} fails"
        raise LowQualityError(
            f"{subject} the {level.value} quality filter: "
            f"{'the largest' if several else 'it'} {failure.text}.",
            check=failure.check,
            which=which,
            problem=failure.problem,
            value=failure.value,
            limit=failure.limit,
            quality_filter=level.value,
            faces=[
                {"face": face.index, "check": failures[face.index].check, "box": face.box.to_dict()}
                for face in analysis.faces
            ],
        )
    return dataclasses.replace(analysis, faces=tuple(kept), rejected=tuple(rejected))


def _the_face(face: Face, which: str | None) -> str:
    where = f" of image {which.upper()}" if which and len(which) == 1 else ""
    return f"Face {face.index + 1}{where}"


def rejection_warnings(analysis: FaceAnalysis, which: str | None = None) -> list[FaceWarning]:
    """A ``face_filtered`` warning for each face the filter left out of ``analysis``."""
    return [
        FaceWarning(
            "face_filtered", which, rejection.message, rejection.face.index, rejection.check
        )
        for rejection in analysis.rejected
    ]


def quality_warnings(face: Face, *, which: str | None = None) -> list[FaceWarning]:
    """``which`` ("a" or "b") names the photo of a comparison; None for a single photo."""
    the_face = f"The face in image {which.upper()}" if which else "The face"
    quality = face.quality
    checks = (
        ("face_too_small", quality.too_small, f"{the_face} is small."),
        ("face_blurry", quality.blurry, f"{the_face} is blurry."),
        ("face_partly_outside", quality.partly_outside, f"{the_face} is cut by the frame."),
    )
    return [FaceWarning(code, which, text, face.index) for code, flagged, text in checks if flagged]


def comparison_warnings(analysis: FaceAnalysis, which: str, position: int) -> list[FaceWarning]:
    """What to know about the face at ``position`` in ``analysis.faces`` of one compared photo
    (its ``index`` is the one reported)."""
    face = analysis.faces[position]
    found: list[FaceWarning] = []
    shown = len(analysis.faces) + len(analysis.rejected)
    if shown > 1:
        found.append(
            FaceWarning(
                "several_faces",
                which,
                f"image {which.upper()} shows {shown} faces; face {face.index + 1} was compared.",
                face.index,
            )
        )
    return [*found, *quality_warnings(face, which=which), *rejection_warnings(analysis, which)]
