"""manage.py faces_prune: the Face_Comparison retention schedule, run daily (a Zappa event on
Lambda, a CronJob on Kubernetes).

- stored comparison photos older than FACES_RETENTION_DAYS (the log rows stay: metadata only);
- gallery references past their expiry (FACES_REFERENCE_RETENTION_DAYS from enrolment), with
  their thumbnails, and subjects left without a reference, with their keys;
- search audit entries older than FACES_AUDIT_RETENTION_DAYS.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from modules.faces import services
from modules.faces.gallery import services as gallery


class Command(BaseCommand):
    help = (
        "Delete stored comparison photos older than FACES_RETENTION_DAYS, expired gallery "
        "references (and their subjects' keys), and audit entries past FACES_AUDIT_RETENTION_DAYS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=None, help="override FACES_RETENTION_DAYS for this run"
        )
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = options["dry_run"]
        result = services.comparisons_prune(days=options["days"], dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"{verb} {result.files} photo(s) of {result.comparisons} comparison(s) "
            f"older than {result.cutoff:%Y-%m-%d %H:%M} UTC"
        )
        pruned = gallery.gallery_prune(dry_run=dry_run)
        self.stdout.write(
            f"{verb} {pruned.references} expired reference(s), {pruned.subjects} subject(s) "
            f"left without one (with their keys), {pruned.searches} search audit entr"
            f"{'y' if pruned.searches == 1 else 'ies'} older than "
            f"{pruned.audit_cutoff:%Y-%m-%d %H:%M} UTC"
        )
