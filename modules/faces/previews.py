"""What the result pages draw: photos as data: URLs with face boxes, and the distance scale.

The photos are not stored, so they are embedded in the page (downscaled JPEG data: URLs; the
CSP allows data: images). Boxes are SVG rectangles in the photo's own pixel coordinates over
an SVG <image>: no JavaScript, no inline style attribute (the CSP forbids them), and they
scale with the picture.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from modules.faces.engine import Face, LoadedImage

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


@dataclass(frozen=True)
class PhotoPreview:
    data_url: str
    width: int  # the photo's upright size: the SVG viewBox, so boxes need no scaling
    height: int
    boxes: tuple[BoxView, ...]
    font_size: int


def photo_preview(
    loaded: LoadedImage, faces: Sequence[Face], *, compared: int | None, prefix: str = ""
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
    boxes = tuple(
        BoxView(
            index=face.index,
            left=face.box.left,
            top=face.box.top,
            width=face.box.width,
            height=face.box.height,
            compared=face.index == compared,
            label=f"{prefix}{face.index + 1}",
            # Above the box, or inside it when the box touches the top edge.
            label_y=face.box.top - font_size // 3
            if face.box.top > font_size
            else face.box.top + font_size,
        )
        for face in faces
    )
    return PhotoPreview(
        data_url=data_url,
        width=image.width,
        height=image.height,
        boxes=boxes,
        font_size=font_size,
    )


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
