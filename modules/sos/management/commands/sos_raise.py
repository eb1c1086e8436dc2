"""Raise an alert from the command line (runbooks, cron, other systems' hooks)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from modules.sos import services
from modules.sos.errors import SosError


class Command(BaseCommand):
    help = "Raise an SOS alert to groups and/or contacts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--message", "-m", required=True)
        parser.add_argument("--group", "-g", action="append", default=[], help="Repeatable.")
        parser.add_argument("--contact", "-c", action="append", default=[], help="Repeatable.")
        parser.add_argument(
            "--severity", choices=["info", "warning", "critical"], default="critical"
        )
        parser.add_argument(
            "--channel",
            action="append",
            choices=["email", "sms", "webhook", "apprise"],
            help="Only these channels (repeatable).",
        )
        parser.add_argument("--lat", type=float)
        parser.add_argument("--lon", type=float)
        parser.add_argument(
            "--require-ack",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="Neither: the groups' default escalation policy applies. --no-require-ack: "
            "no answers asked, no group's policy.",
        )
        parser.add_argument("--dedup-key")
        parser.add_argument("--idempotency-key")
        parser.add_argument("--user", help="Username recorded as the raiser.")
        parser.add_argument("--dry-run", action="store_true", help="List recipients only.")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["group"] and not options["contact"]:
            raise CommandError("Give at least one --group or --contact")
        if (options["lat"] is None) != (options["lon"] is None):
            raise CommandError("Give both --lat and --lon, or neither")
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user {options['user']!r}")
        location = None
        if options["lat"] is not None:
            location = {"lat": options["lat"], "lon": options["lon"]}
        fields: dict[str, Any] = {
            "message": options["message"],
            "severity": options["severity"],
            "groups": options["group"],
            "contacts": options["contact"],
            "channels": options["channel"],
            "location": location,
            "require_ack": options["require_ack"],
            "dedup_key": options["dedup_key"],
            "raised_by": user,
            "source": "cli",
        }
        try:
            if options["dry_run"]:
                self._preview(services.alert_preview(**fields), as_json=options["json"])
                return
            raised = services.alert_raise(**fields, idempotency_key=options["idempotency_key"])
        except SosError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        count = raised.alert.deliveries.count()
        if options["json"]:
            self.stdout.write(json.dumps({"alert": raised.alert.pk, "deliveries": count}))
        else:
            note = " (existing alert)" if raised.deduplicated else ""
            self.stdout.write(f"Alert #{raised.alert.pk} raised to {count} contact methods{note}")

    def _preview(self, preview: services.AlertPreview, *, as_json: bool) -> None:
        recipients = [r.as_dict() for r in preview.recipients]
        if as_json:
            self.stdout.write(json.dumps({"recipients": recipients}))
            return
        for r in recipients:
            self.stdout.write(f"{r['kind']:8} {r['contact_name']} <{r['address']}>")
        self.stdout.write(f"{len(recipients)} recipients (dry run, nothing sent)")
