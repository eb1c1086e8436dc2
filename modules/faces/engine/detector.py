"""HOG face detection on a downscaled copy, at higher resolution only when nothing is found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import Image

from modules.faces.engine.dlib_models import DlibModels

DETECTOR_NAME = "dlib_hog_frontal_face_detector"
DEFAULT_DETECT_MAX_SIDE = 1024
MIN_DETECT_MAX_SIDE = 160

# left, top, right, bottom in original-image pixels; right and bottom exclusive, not clipped.
RawBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class Detection:
    boxes: list[RawBox]
    scores: list[float]
    scale: float  # size of the copy of the last pass tried, relative to the photo
    upsample: int  # dlib upsampling of that copy


def detection_passes(
    width: int, height: int, *, detect_max_side: int, upsample: int | None
) -> list[tuple[float, int]]:
    """(scale of the copy, dlib upsampling) tried in order until a face is found.

    The first pass sees the photo at ``detect_max_side``; each next pass doubles the
    resolution: real pixels while the copy is smaller than the photo, then the photo
    upsampled once. The last pass is at most 2x the photo, 2x ``detect_max_side`` for
    small photos and 4x ``detect_max_side`` (4096 px) for big ones, so the worst case
    (no face in a big photo) stays far below full-resolution upsampled detection.
    An int ``upsample`` forces one pass at ``detect_max_side`` with that upsampling.
    """
    longest = max(width, height)
    first = min(longest, detect_max_side)
    if upsample is not None:
        return [(first / longest, upsample)]
    final = min(2 * longest, max(longest, 2 * detect_max_side), 4 * detect_max_side)
    passes: list[tuple[float, int]] = []
    side = first
    while True:
        side = min(side, final)
        if side <= longest:
            passes.append((side / longest, 0))
        else:
            passes.append((side / 2 / longest, 1))
        if side >= final:
            return passes
        side *= 2


def detect(
    models: DlibModels,
    image: Image.Image,
    passes: list[tuple[float, int]],
    *,
    threshold: float,
    np: Any,
) -> Detection:
    """``threshold`` is dlib's adjust_threshold: lower finds more, less certain faces."""
    width, height = image.size
    rects: Any = []
    scores: Any = []
    scale, upsample = 1.0, 0
    with models.detector() as detector:
        for scale, upsample in passes:
            copy = image
            if scale < 1.0:
                size = (max(1, round(width * scale)), max(1, round(height * scale)))
                copy = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
            pixels = np.asarray(copy)
            rects, scores, _ = detector.run(pixels, upsample, threshold)
            if len(rects):
                break
    sx, sy = width / pixels.shape[1], height / pixels.shape[0]
    # dlib rectangles are inclusive; boxes here are [left, right) like Pillow's crop box.
    boxes = [
        (r.left() * sx, r.top() * sy, (r.right() + 1) * sx, (r.bottom() + 1) * sy) for r in rects
    ]
    return Detection(boxes=boxes, scores=[float(s) for s in scores], scale=scale, upsample=upsample)
