"""manage.py faces_evaluate PAIRS.tsv: calibrate the threshold on your own labelled photos."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from modules.faces import services
from modules.faces.engine import PICKS, CompareOptions, evaluate


class Command(BaseCommand):
    help = (
        "Read tab-separated lines `img_a img_b same_person(1/0)` (a header row is allowed; "
        "paths relative to --root), encode each image once, and report accuracy, false-match "
        "and false-non-match rates at the threshold, and the best threshold on that data."
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
        parser.add_argument("--json", action="store_true", help="print every figure as JSON")
        parser.add_argument(
            "--plot", type=Path, default=None, help="write a PNG of the two distance distributions"
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
            pairs = evaluate.read_pairs(path)
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
            engine=services.face_engine(),
            progress=progress,
        )
        if show_progress:
            self.stderr.write("")
        if options["plot"]:
            options["plot"].write_bytes(evaluate.render_distributions(evaluation))
        if options["json"]:
            self.stdout.write(json.dumps(evaluation.to_dict(), indent=2))
        else:
            self.stdout.write(evaluate.format_report(evaluation))
            if options["plot"]:
                self.stdout.write(f"distributions written to {options['plot']}")

    def _fail(self, message: str) -> None:
        self.stderr.write(f"error: {message}")
        sys.exit(2)
