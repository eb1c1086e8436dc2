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
    too_small: bool  # shorter box side below the engine's min_face_size
    blur: float  # variance of the Laplacian on the aligned 150x150 chip; lower is blurrier
    blurry: bool  # blur below the engine's blur_threshold
    partly_outside: bool  # the detected box reached past the frame and was clipped

    def to_dict(self) -> dict[str, Any]:
        return {
            "too_small": self.too_small,
            "blur": round(self.blur, 1),
            "blurry": self.blurry,
            "partly_outside": self.partly_outside,
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
    code: str  # several_faces | face_too_small | face_blurry | face_partly_outside
    which: str | None  # "a" or "b" in a comparison; None for the one photo of enroll or search
    message: str
    face: int | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.which is None:
            return {"code": self.code, "face": self.face, "message": self.message}
        return {"code": self.code, "which": self.which, "face": self.face, "message": self.message}


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
    pair: tuple[int, int]  # indexes of the compared faces in faces_a and faces_b
    image_a: FaceAnalysis
    image_b: FaceAnalysis
    warnings: tuple[FaceWarning, ...]
    timings_ms: Timings

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
            "pair": {"a": self.pair[0], "b": self.pair[1]},
            "faces_a": image_a.pop("faces"),
            "faces_b": image_b.pop("faces"),
            "image_a": image_a,
            "image_b": image_b,
            "warnings": [warning.to_dict() for warning in self.warnings],
            "timings_ms": self.timings_ms.to_dict(),
        }
