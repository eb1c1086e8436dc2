"""manage.py faces_rotate_master_key: re-wrap every subject key under the gallery's new master
key (the one the settings now name), given the previous one. Afterwards destroy the previous
key (schedule the old KMS key's deletion, or forget the old FACES_MASTER_KEY): backups taken
before then hold subject keys only it can unwrap, so their descriptors become unreadable."""

from __future__ import annotations

import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from modules.faces.gallery import keys

PREVIOUS_KEY_VARIABLE = "FACES_PREVIOUS_MASTER_KEY"


class Command(BaseCommand):
    stealth_options = ("stdin",)  # tests pass the key as a stream
    help = (
        "Re-wrap every gallery subject key from the previous master key to the current one. "
        f"The previous FACES_MASTER_KEY comes from ${PREVIOUS_KEY_VARIABLE} or, with "
        "--previous-master-key-stdin, from standard input: never from the command line, "
        "which other users (ps) and the shell history see."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        previous = parser.add_mutually_exclusive_group()
        previous.add_argument(
            "--previous-master-key-stdin",
            action="store_true",
            help="read the previous FACES_MASTER_KEY from standard input (one line)",
        )
        previous.add_argument("--previous-kms-key-id", help="the previous FACES_KMS_KEY_ID")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["previous_kms_key_id"]:
                previous = keys.previous_kms_master_key(options["previous_kms_key_id"])
            else:
                previous = keys.parse_master_key(self._previous_master_key(options))
            rotated = keys.master_key_rotate(previous=previous)
        except CommandError:
            raise
        except Exception as exc:  # a wrong previous key, KMS refusing: nothing was changed
            raise CommandError(f"rotation failed, nothing changed: {exc}") from None
        self.stdout.write(f"re-wrapped {rotated} subject key(s) under the current master key")

    def _previous_master_key(self, options: dict[str, Any]) -> str:
        if options["previous_master_key_stdin"]:
            stdin = options.get("stdin") or sys.stdin
            value = stdin.readline().strip()
        else:
            value = os.environ.get(PREVIOUS_KEY_VARIABLE, "").strip()
        if not value:
            raise CommandError(
                f"give the previous key: ${PREVIOUS_KEY_VARIABLE}, "
                "--previous-master-key-stdin or --previous-kms-key-id"
            )
        return value
