"""manage.py faces_synthetic_gallery --count 100000: enroll made-up descriptors for benchmarks.

Each reference gets its own synthetic subject (marked synthetic, legal basis "synthetic") and
key, as real ones do, so a search over them costs what a real gallery of that size costs.
The descriptors are random float32 values spread like dlib's (unit-length directions scaled
to dlib's typical length), never faces. `--erase` removes every synthetic subject.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from modules.faces.gallery import synthetic


class Command(BaseCommand):
    help = "Enroll N synthetic references (own subjects, keys and 'synthetic' consent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=1000, help="how many (default 1000)")
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        parser.add_argument(
            "--erase", action="store_true", help="erase every synthetic subject instead"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["erase"]:
            erased = synthetic.synthetic_erase()
            self.stdout.write(f"erased {erased} synthetic subject(s)")
            return
        if options["count"] < 1:
            self.stderr.write("--count must be at least 1")
            raise SystemExit(2)
        created = synthetic.synthetic_enroll(count=options["count"], seed=options["seed"])
        self.stdout.write(f"enrolled {created} synthetic reference(s)")
