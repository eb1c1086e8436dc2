"""What the result pages draw: photos as data: URLs with face boxes, and the distance scale.

The photos are not stored, so they are embedded in the page (downscaled JPEG data: URLs; the
CSP allows data: images). Boxes are SVG rectangles in the photo's own pixel coordinates over
an SVG <image>: no JavaScript, no inline style attribute (the CSP forbids them), and they
scale with the picture.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from modules.faces.engine import Face, ImageError, LoadedImage

PREVIEW_MAX_SIDE = 720
SCALE_WIDTH = 400


@dataclass(frozen=True)
class BoxView:
    index: int
    left: int
    top: int
    width: int
    height: int
    compared: bool
    label: str
    label_y: int
    rejected: bool = False  # left out by the quality filter


@dataclass(frozen=True)
class PhotoPreview:
    data_url: str
    width: int  # the photo's upright size: the SVG viewBox, so boxes need no scaling
    height: int
    boxes: tuple[BoxView, ...]
    font_size: int


def photo_preview(
    loaded: LoadedImage,
    faces: Sequence[Face],
    *,
    compared: int | None,
    prefix: str = "",
    rejected: Sequence[Face] = (),
) -> PhotoPreview:
    """``rejected``: faces the quality filter left out, drawn apart."""
    return _preview(
        loaded,
        [
            (face.index, face.box.left, face.box.top, face.box.width, face.box.height, False)
            for face in faces
        ]
        + [
            (face.index, face.box.left, face.box.top, face.box.width, face.box.height, True)
            for face in rejected
        ],
        compared=compared,
        prefix=prefix,
    )


def _preview(
    loaded: LoadedImage,
    boxes: Sequence[tuple[int, int, int, int, int, bool]],  # index, left, top, width, height,
    # rejected
    *,
    compared: int | None,
    prefix: str,
) -> PhotoPreview:
    image = loaded.image
    copy = image
    if max(image.size) > PREVIEW_MAX_SIDE:
        copy = image.copy()
        copy.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    copy.save(buffer, "JPEG", quality=82)
    data_url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    font_size = max(10, round(max(image.size) / 32))
    views = tuple(
        BoxView(
            index=index,
            left=left,
            top=top,
            width=width,
            height=height,
            compared=index == compared,
            label=f"{prefix}{index + 1}",
            # Above the box, or inside it when the box touches the top edge.
            label_y=top - font_size // 3 if top > font_size else top + font_size,
            rejected=rejected,
        )
        for index, left, top, width, height, rejected in sorted(boxes)
    )
    return PhotoPreview(
        data_url=data_url,
        width=image.width,
        height=image.height,
        boxes=views,
        font_size=font_size,
    )


# What the compare page writes over a photo that failed, by error code; low_quality says which
# check failed in its details ("Too blurry", "Face too small"...).
PROBLEMS = {
    "no_face": "No face found",
    "invalid_image": "Not an image",
    "image_too_large": "Too large",
    "low_quality": "Poor quality",
}


@dataclass(frozen=True)
class FailedPhoto:
    """The photo a comparison failed on, with the words for its overlay."""

    which: str  # "a" or "b"
    problem: str
    preview: PhotoPreview | None  # None when the file cannot be shown (not an image, too large)


def failed_photo(
    error: ImageError, sources: dict[str, Any], read: Callable[[Any], LoadedImage]
) -> FailedPhoto | None:
    """The photo named by ``error.which`` among ``sources`` ("a"/"b" to an uploaded file),
    decoded again with ``read`` (the engine's checks) to be shown with its overlay."""
    which = error.which
    if which not in sources:
        return None
    problem = str(error.details.get("problem") or PROBLEMS.get(error.code, "Cannot be used"))
    source = sources[which]
    preview = None
    if error.code in ("no_face", "low_quality"):
        if hasattr(source, "seek"):
            source.seek(0)
        try:
            loaded = read(source)
        except ImageError:
            loaded = None
        if loaded is not None:
            rejected = [
                (
                    item["face"],
                    *(item["box"][key] for key in ("left", "top", "width", "height")),
                    True,
                )
                for item in error.details.get("faces", [])
                if isinstance(item, dict) and "box" in item
            ]
            preview = _preview(loaded, rejected, compared=None, prefix=which.upper())
    return FailedPhoto(which=which, problem=problem, preview=preview)


@dataclass(frozen=True)
class DistanceScale:
    """A horizontal scale from 0 to ``top`` (SCALE_WIDTH units wide): match zone, threshold
    mark and the measured distance."""

    width: int
    top: float
    threshold_x: float
    nomatch_width: float
    distance_x: float
    ticks: tuple[tuple[float, str], ...]


def distance_scale(distance: float, threshold: float) -> DistanceScale:
    top = max(2 * threshold, distance * 1.1)
    top = round(top + 0.05, 1)

    def x(value: float) -> float:
        return round(SCALE_WIDTH * min(value, top) / top, 1)

    steps = [i / 10 for i in range(int(top * 10) + 1)]
    stride = max(1, len(steps) // 6)
    ticks = tuple((x(v), f"{v:.1f}") for v in steps[::stride])
    return DistanceScale(
        width=SCALE_WIDTH,
        top=top,
        threshold_x=x(threshold),
        nomatch_width=round(SCALE_WIDTH - x(threshold), 1),
        distance_x=x(distance),
        ticks=ticks,
    )
