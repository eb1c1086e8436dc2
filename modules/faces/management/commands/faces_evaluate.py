"""manage.py faces_evaluate PAIRS.tsv: calibrate and audit the threshold on labelled photos."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from modules.faces import services
from modules.faces.engine import PICKS, CompareOptions, evaluate

MAX_JITTERS = 100


def _jitters(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if not 0 <= number <= MAX_JITTERS:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_JITTERS}")
    return number


def _rate(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not 0 < number < 1:
        raise argparse.ArgumentTypeError("must be greater than 0 and less than 1")
    return number


class Command(BaseCommand):
    help = (
        "Read tab-separated lines `img_a img_b same_person(1/0)` (a header row is allowed; "
        "paths relative to --root), encode each image once, and report accuracy, false-match "
        "and false-non-match rates at the threshold with 95% Wilson intervals, the equal-error "
        "rate, the best threshold on that data, and per identity group when the header has a "
        "`group` column. The JSON is the same, byte for byte, for the same input."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("pairs", type=Path, help="the pairs file (TSV)")
        parser.add_argument(
            "--root",
            type=Path,
            default=None,
            help="folder the image paths are relative to (default: the pairs file's folder)",
        )
        parser.add_argument(
            "--threshold", type=float, default=None, help="default: FACES_THRESHOLD (0.6)"
        )
        parser.add_argument("--pick", choices=PICKS, default="largest")
        parser.add_argument(
            "--target-fmr",
            type=_rate,
            default=None,
            help="also report the largest threshold whose false-match rate is at most this "
            "(e.g. 0.001), and whether the data has enough different-person pairs for it",
        )
        parser.add_argument(
            "--group-column",
            default=None,
            help="header column holding each pair's identity group (default: `group` if present)",
        )
        parser.add_argument(
            "--jitters",
            type=_jitters,
            default=0,
            help="dlib's num_jitters: average each descriptor over N jittered copies (slower)",
        )
        parser.add_argument("--json", action="store_true", help="print every figure as JSON")
        parser.add_argument(
            "--timings",
            action="store_true",
            help="include durations in the JSON (they differ from run to run)",
        )
        parser.add_argument(
            "--plot",
            type=Path,
            default=None,
            help="write a PNG: distance histograms, ROC and DET curves",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        threshold = options["threshold"]
        threshold = settings.FACES_THRESHOLD if threshold is None else threshold
        try:
            CompareOptions(threshold=threshold, pick=options["pick"])
        except ValueError as exc:
            self._fail(f"--{exc}")
        path: Path = options["pairs"]
        try:
            pairs = evaluate.read_pairs(path, group_column=options["group_column"])
        except OSError as exc:
            self._fail(f"cannot read {path}: {exc.strerror}")
        except evaluate.PairsFormatError as exc:
            self._fail(f"{path}: {exc}")
        if not pairs:
            self._fail(f"{path} has no labelled pair")
        show_progress = not options["json"] and options["verbosity"] >= 1

        def progress(done: int, total: int) -> None:
            if show_progress and (done == total or done % 10 == 0):
                self.stderr.write(f"encoded {done}/{total} images", ending="\r")

        evaluation = evaluate.evaluate(
            pairs,
            root=options["root"] or path.parent,
            threshold=threshold,
            pick=options["pick"],
            engine=services.face_engine(num_jitters=options["jitters"]),
            progress=progress,
            target_fmr=options["target_fmr"],
        )
        if show_progress:
            self.stderr.write("")
        if options["plot"]:
            options["plot"].write_bytes(evaluate.render_distributions(evaluation))
        if options["json"]:
            report = evaluation.to_dict(timings=options["timings"])
            self.stdout.write(json.dumps(report, indent=2, sort_keys=True, allow_nan=False))
        else:
            self.stdout.write(evaluate.format_report(evaluation))
            if options["plot"]:
                self.stdout.write(f"histograms, ROC and DET curves written to {options['plot']}")

    def _fail(self, message: str) -> None:
        self.stderr.write(f"error: {message}")
        sys.exit(2)
