"""`manage.py netprobe_run_monitors`: run the due monitors once and print a summary.

Zappa runs it on a schedule (`events` in zappa_settings.json), Kubernetes as a CronJob. Runs may
overlap: each monitor is claimed with a conditional update, so none runs twice.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from modules.netprobe import services


class Command(BaseCommand):
    help = "Run the NetProbe monitors that are due, once."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="at most this many monitors")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")

    def handle(self, *args: Any, **opts: Any) -> None:
        summary = services.monitor_run_due(limit=opts["limit"])
        if opts["json"]:
            self.stdout.write(json.dumps(summary.to_dict()))
        else:
            self.stdout.write(f"NetProbe monitors: {summary}")
