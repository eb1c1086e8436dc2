"""manage.py faces_prune: delete stored comparison photos past FACES_RETENTION_DAYS.

Run it daily (a Zappa event on Lambda, a CronJob on Kubernetes) when FACES_STORE_IMAGES is on.
The log rows stay: they hold metadata only.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from modules.faces import services


class Command(BaseCommand):
    help = "Delete stored comparison photos older than FACES_RETENTION_DAYS (metadata stays)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=None, help="override FACES_RETENTION_DAYS for this run"
        )
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        result = services.comparisons_prune(days=options["days"], dry_run=options["dry_run"])
        verb = "would delete" if options["dry_run"] else "deleted"
        self.stdout.write(
            f"{verb} {result.files} photo(s) of {result.comparisons} comparison(s) "
            f"older than {result.cutoff:%Y-%m-%d %H:%M} UTC"
        )
