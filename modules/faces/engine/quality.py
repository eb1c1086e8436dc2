"""Face quality: small, blurry or cut by the frame, measured once and worded once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modules.faces.engine.results import Box, Face, FaceAnalysis, FaceQuality, FaceWarning

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MIN_FACE_SIZE = 50
DEFAULT_BLUR_THRESHOLD = 15.0


def assess(
    box: Box,
    chip: np.ndarray,
    *,
    partly_outside: bool,
    min_face_size: int,
    blur_threshold: float,
    np: Any,
) -> FaceQuality:
    blur = laplacian_variance(chip, np)
    return FaceQuality(
        too_small=min(box.width, box.height) < min_face_size,
        blur=blur,
        blurry=blur < blur_threshold,
        partly_outside=partly_outside,
    )


def laplacian_variance(chip: np.ndarray, np: Any) -> float:
    """Sharpness of the aligned 150x150 chip, so the value does not depend on photo size."""
    gray = chip.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    laplacian = (
        gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4 * gray[1:-1, 1:-1]
    )
    return float(laplacian.var())


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


def comparison_warnings(analysis: FaceAnalysis, which: str, index: int) -> list[FaceWarning]:
    """What to know about face ``index`` of one compared photo."""
    found: list[FaceWarning] = []
    if len(analysis.faces) > 1:
        found.append(
            FaceWarning(
                "several_faces",
                which,
                f"image {which.upper()} shows {len(analysis.faces)} faces; "
                f"face {index} was compared.",
                index,
            )
        )
    return [*found, *quality_warnings(analysis.faces[index], which=which)]
