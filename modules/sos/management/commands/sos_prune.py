"""`manage.py sos_prune`: delete the inbound reply log older than SOS_INBOUND_RETENTION_DAYS.

Alerts, deliveries and their events are SOS's history and stay; only InboundMessage rows (the
record that makes a redelivered SMS or email reply apply once) go.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from modules.sos import services


class Command(BaseCommand):
    help = "Delete inbound SMS/email reply records older than SOS_INBOUND_RETENTION_DAYS."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--older-than-days",
            type=int,
            default=None,
            help=f"default: SOS_INBOUND_RETENTION_DAYS ({settings.SOS_INBOUND_RETENTION_DAYS}); "
            "at least 1",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            pruned = services.inbound_messages_prune(older_than_days=opts["older_than_days"])
        except ValueError as exc:
            raise CommandError(f"--older-than-days: {exc}") from exc
        self.stdout.write(
            f"Deleted {pruned.deleted} inbound reply record(s) older than "
            f"{pruned.older_than_days} day(s)."
        )
