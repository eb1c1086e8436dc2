"""Face quality calibration: the numbers behind the QualityFilter levels (docs/faces-quality.md).

Run from the repository root: `.venv/bin/python bench/faces_quality.py [--json]`. It analyses
every photo of the labelled pairs (pairs.tsv) and the unlabelled detection photos
(dlib_faces/), prints each face's size, sharpness, exposure (contrast, share clipped white),
mean brightness (reported, not filtered on), yaw and roll, the strictest level it passes, the
distribution of each measure over the labelled faces, and the same measures on degraded copies
of one fixture (blurred, darkened, overexposed, downscaled, rotated) made in memory.

Django-free: the engine only. The photos are found as the face tests find them
(modules.faces.tests.fixtures: FACES_FIXTURES_DIR, default ../shared/faces) and never copied.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PIL import Image, ImageEnhance, ImageFilter  # noqa: E402

from modules.faces.engine import FaceEngine, QualityFilter  # noqa: E402
from modules.faces.engine.quality import THRESHOLDS, failed_check  # noqa: E402
from modules.faces.engine.results import Face  # noqa: E402
from modules.faces.tests.fixtures import FixturesMissing, fixtures_dir, on_ci  # noqa: E402

LEVELS = (QualityFilter.HIGH, QualityFilter.MEDIUM, QualityFilter.LOW)
MEASURES = ("size", "sharpness", "contrast", "overexposed", "brightness", "yaw", "roll")
DEGRADED_SOURCE = "face_recognition/examples_obama-480p.jpg"


def labelled_photos(root: Path) -> list[str]:
    with (root / "pairs.tsv").open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return sorted({row[key] for row in rows for key in ("img_a", "img_b")})


def measures(face: Face) -> dict[str, float]:
    quality = face.quality
    return {
        "size": quality.size,
        "sharpness": round(quality.blur, 1),
        "contrast": round(quality.contrast, 1),
        "overexposed": round(quality.overexposed, 3),
        "brightness": round(quality.brightness, 1),
        "yaw": round(quality.yaw, 1),
        "roll": round(quality.roll, 1),
    }


def strictest_level(face: Face) -> str:
    for level in LEVELS:
        if failed_check(face.quality, level) is None:
            return level.value
    failure = failed_check(face.quality, QualityFilter.LOW)
    return f"none ({failure.check})" if failure else "none"


def face_rows(engine: FaceEngine, name: str, data: bytes) -> list[dict[str, Any]]:
    analysis = engine.analyze(data)
    largest = max(analysis.faces, key=lambda f: f.box.area, default=None)
    return [
        {
            "photo": name,
            "face": face.index + 1,  # numbered from 1, as the API texts and labels do
            "largest": face is largest,
            **measures(face),
            "passes": strictest_level(face),
        }
        for face in analysis.faces
    ]


def degraded_copies(data: bytes) -> dict[str, bytes]:
    original = Image.open(io.BytesIO(data)).convert("RGB")

    def encode(image: Image.Image) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        return buffer.getvalue()

    def shrink(side: int) -> Image.Image:
        copy = original.copy()
        copy.thumbnail((side, side), Image.Resampling.LANCZOS)
        return copy

    def rotate(degrees: float) -> Image.Image:
        return original.rotate(degrees, resample=Image.Resampling.BICUBIC, fillcolor=(128,) * 3)

    return {
        "original": encode(original),
        "blur r=1": encode(original.filter(ImageFilter.GaussianBlur(1))),
        "blur r=2": encode(original.filter(ImageFilter.GaussianBlur(2))),
        "blur r=3": encode(original.filter(ImageFilter.GaussianBlur(3))),
        "dark x0.6": encode(ImageEnhance.Brightness(original).enhance(0.6)),
        "dark x0.4": encode(ImageEnhance.Brightness(original).enhance(0.4)),
        "dark x0.3": encode(ImageEnhance.Brightness(original).enhance(0.3)),
        "dark x0.2": encode(ImageEnhance.Brightness(original).enhance(0.2)),
        "dark x0.08": encode(ImageEnhance.Brightness(original).enhance(0.08)),
        "bright x1.5": encode(ImageEnhance.Brightness(original).enhance(1.5)),
        "bright x1.8": encode(ImageEnhance.Brightness(original).enhance(1.8)),
        "bright x2.5": encode(ImageEnhance.Brightness(original).enhance(2.5)),
        "side 240": encode(shrink(240)),
        "side 160": encode(shrink(160)),
        "rotated 20": encode(rotate(20)),
        "rotated 40": encode(rotate(40)),
        "mirrored": encode(original.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    }


def distribution(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    summary = {}
    for measure in MEASURES:
        values = sorted(
            abs(row[measure]) if measure in ("yaw", "roll") else row[measure] for row in rows
        )
        summary[measure] = {
            "min": values[0],
            "median": round(statistics.median(values), 1),
            "max": values[-1],
        }
    return summary


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{title}")
    header = (
        ("size", 5),
        ("sharp", 7),
        ("contr", 6),
        ("clip", 6),
        ("mean", 6),
        ("yaw", 6),
        ("roll", 6),
    )
    columns = " ".join(f"{name:>{width}}" for name, width in header)
    print(f"{'photo':50} {'face':>4} {columns}  passes")
    for row in rows:
        mark = "*" if row.get("largest") else " "
        print(
            f"{row['photo'][:50]:50} {row['face']:>3}{mark} {row['size']:>5} {row['sharpness']:>7} "
            f"{row['contrast']:>6} {row['overexposed']:>6} {row['brightness']:>6} "
            f"{row['yaw']:>6} {row['roll']:>6}  {row['passes']}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument(
        "--skip-unlabelled", action="store_true", help="only the labelled photos (faster)"
    )
    args = parser.parse_args()
    try:
        root = fixtures_dir()
    except FixturesMissing as exc:
        print(f"skipped: {exc}", file=sys.stderr)
        return 1 if on_ci() else 0
    engine = FaceEngine()
    engine.load()
    labelled = [
        row
        for name in labelled_photos(root)
        for row in face_rows(engine, name, (root / name).read_bytes())
    ]
    unlabelled = []
    if not args.skip_unlabelled:
        for path in sorted((root / "dlib_faces").iterdir()):
            unlabelled.extend(face_rows(engine, f"dlib_faces/{path.name}", path.read_bytes()))
    degraded = []
    for name, data in degraded_copies((root / DEGRADED_SOURCE).read_bytes()).items():
        degraded.extend(
            face_rows(engine, name, data) or [{"photo": name, "face": "-", "passes": "no face"}]
        )
    largest = [row for row in labelled if row["largest"]]
    report = {
        "thresholds": {level.value: vars(THRESHOLDS[level]) for level in LEVELS},
        "labelled_largest_faces": distribution(largest),
        "labelled_faces": labelled,
        "unlabelled_faces": unlabelled,
        "degraded": degraded,
        "passing": {
            group: {
                level.value: sum(failed_check_passes(row, level) for row in rows)
                for level in LEVELS
            }
            | {"faces": len(rows)}
            for group, rows in (
                ("labelled_largest", largest),
                ("labelled_all", labelled),
                ("unlabelled", unlabelled),
            )
            if rows
        },
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print_table("Labelled photos (pairs.tsv); * = the photo's largest face", labelled)
    if unlabelled:
        print_table("Unlabelled detection photos (dlib_faces/)", unlabelled)
    print_table(f"Degraded copies of {DEGRADED_SOURCE}", [r for r in degraded if "size" in r])
    for row in degraded:
        if "size" not in row:
            print(f"{row['photo']}: no face found")
    print("\nLargest face of each labelled photo (yaw and roll as absolute values):")
    for measure, values in report["labelled_largest_faces"].items():
        spread = "  ".join(f"{key} {values[key]:>7}" for key in ("min", "median", "max"))
        print(f"  {measure:10} {spread}")
    print("\nFaces passing each level:")
    for group, counts in report["passing"].items():
        print(f"  {group:17} " + "  ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def failed_check_passes(row: dict[str, Any], level: QualityFilter) -> bool:
    order = [level.value for level in LEVELS]
    passes = row["passes"]
    return passes in order and order.index(passes) <= order.index(level.value)


if __name__ == "__main__":
    sys.exit(main())
