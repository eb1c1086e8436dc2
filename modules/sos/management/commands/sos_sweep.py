"""One bounded dispatcher pass (what the scheduled sweep runs): for cron jobs and Lambda."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from modules.sos.outbox.dispatch import process_due_deliveries


class Command(BaseCommand):
    help = "Send what is due (retries, lost wake-ups, reminders) for at most --max-seconds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--max-seconds", type=float, default=settings.SOS_DRAIN_MAX_S)

    def handle(self, *args: Any, **options: Any) -> None:
        report = process_due_deliveries(max_seconds=options["max_seconds"])
        self.stdout.write(", ".join(f"{k} {v}" for k, v in report.as_dict().items()))
