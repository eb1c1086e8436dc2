"""Typed results of the face engine, with JSON-ready ``to_dict()``. Django-free, no numpy import."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Box:
    """A face box in original-image pixels; right and bottom are exclusive (Pillow crop box)."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def to_dict(self) -> dict[str, int]:
        return {
            "left": self.left,
            "top": self.top,
            "right": self.right,
            "bottom": self.bottom,
            "width": self.width,
            "height": self.height,
        }


@dataclass(frozen=True)
class FaceQuality:
    """What a face is like, independent of any filter level (see quality.QualityFilter)."""

    too_small: bool  # shorter box side below the engine's min_face_size
    blur: float  # sharpness: Laplacian variance on the 150x150 chip; lower is blurrier
    blurry: bool  # blur below the engine's blur_threshold
    partly_outside: bool  # the detected box reached past the frame and was clipped
    size: int = 0  # shorter side of the face box in original-image pixels
    brightness: float = 0.0  # mean luminance (0-255) of the chip: reported, never filtered on
    contrast: float = 0.0  # p95 - p5 of the chip's luminance: low when under-exposed or flat
    overexposed: float = 0.0  # share (0-1) of the chip's pixels clipped white (luminance >= 250)
    yaw: float = 0.0  # degrees, + when the nose points to the image's right (see pose.py)
    roll: float = 0.0  # degrees, + when the eye line turns clockwise in the image

    def to_dict(self) -> dict[str, Any]:
        return {
            "too_small": self.too_small,
            "blur": round(self.blur, 1),
            "blurry": self.blurry,
            "partly_outside": self.partly_outside,
            "size": self.size,
            "brightness": round(self.brightness, 1),
            "contrast": round(self.contrast, 1),
            "overexposed": round(self.overexposed, 3),
            "yaw": round(self.yaw, 1),
            "roll": round(self.roll, 1),
        }


@dataclass(frozen=True)
class Face:
    index: int
    box: Box
    score: float  # HOG detector confidence; above 0 is a detection at dlib's default threshold
    landmarks: tuple[tuple[int, int], ...]  # 5 points: eye corners and the bottom of the nose
    quality: FaceQuality
    descriptor: np.ndarray = field(repr=False, compare=False)  # 128 float64, read-only

    def to_dict(self, *, descriptor: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "index": self.index,
            "box": self.box.to_dict(),
            "score": round(self.score, 3),
            "landmarks": [list(point) for point in self.landmarks],
            "quality": self.quality.to_dict(),
        }
        if descriptor:
            data["descriptor"] = [float(value) for value in self.descriptor]
        return data


@dataclass(frozen=True)
class FaceWarning:
    code: str  # several_faces | face_too_small | face_blurry | face_partly_outside | face_filtered
    which: str | None  # "a" or "b" in a comparison; None for the one photo of enroll or search
    message: str
    face: int | None = None
    check: str | None = None  # face_filtered only: the quality check the face failed

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code}
        if self.which is not None:
            data["which"] = self.which
        data.update(face=self.face, message=self.message)
        if self.check is not None:
            data["check"] = self.check
        return data


@dataclass(frozen=True)
class Rejection:
    """A face the quality filter left out, with the first check it failed."""

    face: Face
    check: str  # size | exposure | sharpness | yaw | roll
    problem: str  # short words for an overlay: "Too blurry", "Face too small"...
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.face.to_dict(), "failed_check": self.check, "problem": self.problem}


@dataclass(frozen=True)
class Timings:
    decode: float
    detect: float
    encode: float
    total: float

    def to_dict(self) -> dict[str, float]:
        return {
            "decode": round(self.decode, 1),
            "detect": round(self.detect, 1),
            "encode": round(self.encode, 1),
            "total": round(self.total, 1),
        }


@dataclass(frozen=True)
class FaceAnalysis:
    """Every face found in one image."""

    which: str | None
    width: int  # upright (after EXIF orientation) size in pixels
    height: int
    format: str
    orientation: int  # EXIF orientation that was applied, 1 = none
    detect_scale: float  # size of the detection copy relative to the photo (last pass tried)
    upsample: int  # dlib upsampling of that copy
    faces: tuple[Face, ...]
    timings_ms: Timings
    # Faces the quality filter left out (quality.filter_faces); ``faces`` keeps their indices.
    rejected: tuple[Rejection, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "format": self.format,
            "orientation": self.orientation,
            "faces": [face.to_dict() for face in self.faces],
        }


@dataclass(frozen=True)
class Comparison:
    match: bool
    distance: float
    similarity: float  # 0-100, see distance.similarity()
    threshold: float
    model: str
    pick: str
    pair: tuple[int, int]  # Face.index of the compared faces (kept when faces were filtered)
    image_a: FaceAnalysis
    image_b: FaceAnalysis
    warnings: tuple[FaceWarning, ...]
    timings_ms: Timings
    quality_filter: str = "NONE"

    @property
    def faces_a(self) -> tuple[Face, ...]:
        return self.image_a.faces

    @property
    def faces_b(self) -> tuple[Face, ...]:
        return self.image_b.faces

    def to_dict(self) -> dict[str, Any]:
        image_a, image_b = self.image_a.to_dict(), self.image_b.to_dict()
        return {
            "match": self.match,
            "distance": round(self.distance, 4),
            "similarity": round(self.similarity, 1),
            "threshold": self.threshold,
            "model": self.model,
            "pick": self.pick,
            "quality_filter": self.quality_filter,
            "pair": {"a": self.pair[0], "b": self.pair[1]},
            "faces_a": image_a.pop("faces"),
            "faces_b": image_b.pop("faces"),
            "filtered_faces_a": [rejection.to_dict() for rejection in self.image_a.rejected],
            "filtered_faces_b": [rejection.to_dict() for rejection in self.image_b.rejected],
            "image_a": image_a,
            "image_b": image_b,
            "warnings": [warning.to_dict() for warning in self.warnings],
            "timings_ms": self.timings_ms.to_dict(),
        }
