"""The picture of an evaluation, drawn with Pillow into one PNG with three panels.

- top: histograms of the same-person (green) and different-person (red) distances, with the
  threshold (blue) and the best threshold on the data (dashed gray);
- bottom left, ROC: true-match rate (1 - FNMR) against FMR, linear axes, with the chance
  diagonal;
- bottom right, DET: FNMR against FMR on normal-deviate (probit) axes, as DET curves are
  conventionally drawn (a straight line there for two normal distributions); rates of 0 and 1,
  which have no probit, are drawn on the axis edges (0.05% and 99.95%).

Both curves join consecutive operating points with straight segments; the operating point at
the threshold is blue, the equal-error point gray. The same evaluation gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from statistics import NormalDist
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from modules.faces.engine.error_rates import CurvePoint

if TYPE_CHECKING:
    from modules.faces.engine.evaluate import Evaluation

SAME_COLOR = (46, 160, 67)
DIFFERENT_COLOR = (214, 57, 57)
THRESHOLD_COLOR = (31, 95, 191)
BEST_COLOR = (120, 120, 120)
ROC_COLOR = (111, 66, 193)
DET_COLOR = (230, 126, 34)
GRID_COLOR = (225, 225, 225)
PANELS = ("histogram", "roc", "det")
DET_EDGE = 0.0005
DET_TICKS = (0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99)

Box = tuple[int, int, int, int]
_NORMAL = NormalDist()


def plot_layout(width: int, height: int) -> dict[str, Box]:
    """Where each panel is: (left, top, right, bottom) in pixels."""
    split = int(height * 0.45)
    return {
        "histogram": (0, 0, width, split),
        "roc": (0, split, width // 2, height),
        "det": (width // 2, split, width, height),
    }


def render_distributions(
    evaluation: Evaluation, *, width: int = 900, height: int = 900, bin_width: float = 0.025
) -> bytes:
    """The PNG described in the module docstring."""
    image = Image.new("RGB", (width, height), "white")
    layout = plot_layout(width, height)
    _histogram(image, layout["histogram"], evaluation, bin_width)
    points = evaluation.curve()
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    roc_box, det_box = layout["roc"], layout["det"]
    if len(points) < 2:
        for box in (roc_box, det_box):
            draw.text(
                (box[0] + 20, (box[1] + box[3]) // 2),
                "ROC/DET need same- and different-person pairs",
                fill="black",
                font=font,
            )
    else:
        _roc(draw, font, roc_box, evaluation, points)
        _det(draw, font, det_box, evaluation, points)
    info = PngInfo()
    info.add_text("panels", ",".join(PANELS))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def _histogram(image: Image.Image, box: Box, evaluation: Evaluation, bin_width: float) -> None:
    scored = [(p.distance, p.same) for p in evaluation.scored_pairs()]
    top = max([1.2, evaluation.threshold * 1.5, *(d for d, _ in scored)])
    bins = max(1, int(top / bin_width + 0.999))
    counts = {same: [0] * bins for same in (True, False)}
    for distance, same in scored:
        counts[same][min(bins - 1, int(distance / bin_width))] += 1
    tallest = max([1, *counts[True], *counts[False]])
    left, right = box[0] + 56, box[2] - 16
    upper, lower = box[1] + 40, box[3] - 44
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    bars = ImageDraw.Draw(layer)
    font = ImageFont.load_default()

    def x_of(distance: float) -> float:
        return left + (right - left) * distance / (bins * bin_width)

    def y_of(count: float) -> float:
        return lower - (lower - upper) * count / tallest

    for same, color in ((False, DIFFERENT_COLOR), (True, SAME_COLOR)):
        for index, count in enumerate(counts[same]):
            if count:
                bar = (x_of(index * bin_width), y_of(count), x_of((index + 1) * bin_width), lower)
                bars.rectangle(bar, fill=(*color, 150), outline=(*color, 255))
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
        draw.rectangle((cursor, box[1] + 12, cursor + 12, box[1] + 24), fill=color)
        draw.text((cursor + 18, box[1] + 12), text, fill="black", font=font)
        cursor += 30 + int(draw.textlength(text, font=font))


Scale = Callable[[float], float]


def _panel(
    draw: ImageDraw.ImageDraw,
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
    box: Box,
    title: str,
    x_label: str,
    y_label: str,
    ticks: tuple[float, ...],
    scale: Scale,
) -> tuple[Scale, Scale]:
    """Axes in ``box`` with the same ``scale`` (rate -> 0..1) on both; returns x_of, y_of."""
    left, right = box[0] + 56, box[2] - 20
    upper, lower = box[1] + 34, box[3] - 44
    side = min(right - left, lower - upper)  # square plotting area: both axes read alike
    right, lower = left + side, upper + side

    def x_of(rate: float) -> float:
        return left + side * scale(rate)

    def y_of(rate: float) -> float:
        return lower - side * scale(rate)

    draw.text((left, box[1] + 10), f"{title}: {y_label} against {x_label}", fill="black", font=font)
    for tick in ticks:
        x, y = x_of(tick), y_of(tick)
        draw.line([(x, upper), (x, lower)], fill=GRID_COLOR)
        draw.line([(left, y), (right, y)], fill=GRID_COLOR)
        label = f"{tick:.0%}" if tick >= 0.01 or tick == 0 else f"{tick:.1%}"
        draw.text((x - 10, lower + 6), label, fill="black", font=font)
        draw.text((left - 44, y - 6), label, fill="black", font=font)
    draw.rectangle((left, upper, right, lower), outline="black")
    draw.text((left, lower + 22), x_label, fill="black", font=font)
    return x_of, y_of


def _marker(draw: ImageDraw.ImageDraw, x: float, y: float, color: tuple[int, int, int]) -> None:
    draw.ellipse((x - 4, y - 4, x + 4, y + 4), outline=color, width=2)


def _roc(
    draw: ImageDraw.ImageDraw,
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
    box: Box,
    evaluation: Evaluation,
    points: list[CurvePoint],
) -> None:
    x_of, y_of = _panel(
        draw,
        font,
        box,
        "ROC",
        "false-match rate",
        "true-match rate (1 - FNMR)",
        (0.0, 0.25, 0.5, 0.75, 1.0),
        lambda rate: rate,
    )
    draw.line([(x_of(0), y_of(0)), (x_of(1), y_of(1))], fill=GRID_COLOR, width=1)
    line = [(x_of(p.fmr), y_of(1 - p.fnmr)) for p in points] + [(x_of(1), y_of(1))]
    draw.line(line, fill=ROC_COLOR, width=2)
    point = evaluation.at_threshold()
    if point.false_match.value is not None and point.false_non_match.value is not None:
        _marker(
            draw,
            x_of(point.false_match.value),
            y_of(1 - point.false_non_match.value),
            THRESHOLD_COLOR,
        )


def _probit(rate: float) -> float:
    """Position of ``rate`` on a DET axis, 0..1 between the two edges."""
    edge = _NORMAL.inv_cdf(DET_EDGE)
    clamped = min(max(rate, DET_EDGE), 1 - DET_EDGE)
    return (_NORMAL.inv_cdf(clamped) - edge) / (-2 * edge)


def _det(
    draw: ImageDraw.ImageDraw,
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
    box: Box,
    evaluation: Evaluation,
    points: list[CurvePoint],
) -> None:
    x_of, y_of = _panel(
        draw,
        font,
        box,
        "DET (probit axes)",
        "false-match rate",
        "false-non-match rate",
        DET_TICKS,
        _probit,
    )
    draw.line(
        [(x_of(DET_EDGE), y_of(DET_EDGE)), (x_of(1 - DET_EDGE), y_of(1 - DET_EDGE))],
        fill=BEST_COLOR,
        width=1,
    )
    draw.line([(x_of(p.fmr), y_of(p.fnmr)) for p in points], fill=DET_COLOR, width=2)
    point = evaluation.at_threshold()
    if point.false_match.value is not None and point.false_non_match.value is not None:
        _marker(
            draw, x_of(point.false_match.value), y_of(point.false_non_match.value), THRESHOLD_COLOR
        )
    eer = evaluation.equal_error()
    if eer is not None:
        _marker(draw, x_of(eer.rate), y_of(eer.rate), BEST_COLOR)
