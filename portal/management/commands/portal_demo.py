"""Create (or keep) the demo accounts `make run` prints, so a new user can log in at once."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand

from portal.roles import OPERATORS, VIEWERS


def _password() -> str:
    from_env = os.environ.get("PORTAL_DEMO_PASSWORD", "").strip()
    if from_env:
        return from_env
    # Kept beside the SQLite file so a second `make run` prints the same, still valid password.
    stored = Path(settings.BASE_DIR) / "var" / "demo-password"
    if stored.exists():
        return stored.read_text().strip()
    stored.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    stored.write_text(password + "\n")
    stored.chmod(0o600)
    return password


class Command(BaseCommand):
    help = "Create the demo accounts: an operator (admin too) and a viewer; print how to log in."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default=os.environ.get("PORTAL_DEMO_USER", "operator"))

    def handle(self, *args, username: str, **options) -> None:
        password = _password()
        accounts = [(username, OPERATORS, True), (f"{username}-viewer", VIEWERS, False)]
        for name, group, staff in accounts:
            user, created = User.objects.get_or_create(username=name)
            if created or not user.check_password(password):
                user.set_password(password)
            user.is_staff = user.is_superuser = staff
            user.save()
            user.groups.add(Group.objects.get(name=group))
        self.stdout.write(
            self.style.SUCCESS("Demo accounts (password in var/demo-password):")
            + f"\n  operator + admin: {username} / {password}"
            + f"\n  viewer (read-only): {username}-viewer / {password}\n"
        )
