"""`manage.py netprobe_prune`: delete probe results older than NETPROBE_RETENTION_DAYS."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from modules.netprobe import services


class Command(BaseCommand):
    help = "Delete NetProbe results older than the retention (NETPROBE_RETENTION_DAYS)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--older-than-days",
            type=int,
            default=None,
            help=f"default: NETPROBE_RETENTION_DAYS ({settings.NETPROBE_RETENTION_DAYS})",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        days = opts["older_than_days"]
        if days is None:
            days = settings.NETPROBE_RETENTION_DAYS
        if days < 0:
            raise CommandError("--older-than-days must be 0 or more")
        deleted = services.results_prune(older_than_days=days)
        self.stdout.write(f"Deleted {deleted} NetProbe result(s) older than {days} day(s).")
