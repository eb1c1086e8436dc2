"""Shared test helpers: users with roles, API clients, and a headless Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from portal.roles import OPERATORS, VIEWERS

PASSWORD = "correct horse battery staple"  # noqa: S105
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def make_user(username: str, *, role: str | None = "operator", **fields: Any) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD, **fields)
    if role == "operator":
        user.groups.add(Group.objects.get_or_create(name=OPERATORS)[0])
    elif role == "viewer":
        user.groups.add(Group.objects.get_or_create(name=VIEWERS)[0])
    return user


def api_client(user: User | None = None) -> APIClient:
    """An API client that authenticates the way API clients do: with a token."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def chromium_path() -> str | None:
    override = os.environ.get("CHROMIUM_PATH")
    if override:
        return override if os.path.exists(override) else None
    return next((p for p in CHROMIUM_CANDIDATES if os.path.exists(p)), shutil.which("chromium"))


@contextmanager
def browser_page(base_url: str) -> Iterator[Any]:
    """A Playwright page in the machine's headless Chromium (no browser download)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    assert executable, "no Chromium found"
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # around it are still plain synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 860})
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.console_errors = errors  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            context.close()
            browser.close()


def browser_login(page: Any, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
