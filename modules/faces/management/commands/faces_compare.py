"""manage.py faces_compare A B: same person or not. Exit 0 match, 1 no match, 2 error."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from modules.faces import services
from modules.faces.engine import PICKS, QUALITY_FILTERS
from modules.faces.models import Comparison
from portal.errors import PortalError

EXIT_MATCH, EXIT_NO_MATCH, EXIT_ERROR = 0, 1, 2


class Command(BaseCommand):
    help = (
        "Compare the faces in two photos. Exit status: 0 same person, 1 different people, "
        "2 error (unreadable file, invalid image, no face...)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("image_a", help="path of the first photo")
        parser.add_argument("image_b", help="path of the second photo")
        parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
        parser.add_argument(
            "--threshold", type=float, default=None, help="default: FACES_THRESHOLD (0.6)"
        )
        parser.add_argument("--pick", choices=PICKS, default="largest")
        parser.add_argument(
            "--quality-filter",
            type=str.upper,
            choices=QUALITY_FILTERS,
            default="NONE",
            help="leave out faces below this quality (AUTO = MEDIUM); exit 2 with low_quality "
            "when no face of a photo passes",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Django turns CommandError into exit status 1, which here means "no match": errors
        # leave through SystemExit(2) instead.
        try:
            with open(options["image_a"], "rb") as file_a, open(options["image_b"], "rb") as file_b:
                result, log = services.faces_compare(
                    image_a=file_a,
                    image_b=file_b,
                    threshold=options["threshold"],
                    pick=options["pick"],
                    quality_filter=options["quality_filter"],
                    source=Comparison.Source.CLI,
                )
        except PortalError as exc:
            # str(): a missing-models error names the folders searched, which an operator
            # at the command line needs (clients of the API get a message without paths).
            self._fail(options, exc.code, str(exc), exc.details)
        except OSError as exc:
            self._fail(options, "unreadable_file", f"{exc.filename}: {exc.strerror}", {})
        except ValueError as exc:
            self._fail(options, "validation_error", str(exc), {})
        if options["json"]:
            self.stdout.write(json.dumps({"id": log.pk, **result.to_dict()}, indent=2))
        else:
            verdict = "same person" if result.match else "different people"
            sign = "<=" if result.match else ">"
            self.stdout.write(
                f"{verdict}: distance {result.distance:.4f} {sign} threshold {result.threshold}, "
                f"similarity {result.similarity:.1f}% "
                f"({len(result.faces_a)} / {len(result.faces_b)} faces, pick {result.pick}, "
                f"{result.timings_ms.total:.0f} ms)"
            )
            for warning in result.warnings:
                self.stdout.write(f"warning: {warning.code}: {warning.message}")
        sys.exit(EXIT_MATCH if result.match else EXIT_NO_MATCH)

    def _fail(self, options: dict[str, Any], code: str, message: str, details: Any) -> None:
        if options["json"]:
            error = {"code": code, "message": message, "details": details}
            self.stdout.write(json.dumps({"error": error}, indent=2))
        else:
            which = details.get("which") if isinstance(details, dict) else None
            where = f" (image {which.upper()})" if which in ("a", "b") else ""
            self.stderr.write(f"error: {code}{where}: {message}")
        sys.exit(EXIT_ERROR)
