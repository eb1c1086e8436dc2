"""Failed logins are limited per client address and per username, at every login: the portal's
page, the admin's and the API's token endpoint.

The limit lives in the authentication backend and Django's `user_login_failed` signal, the two
points every password check passes, so an entry point cannot forget it. The views only add a
clear answer (429 and a page or an envelope) before the form says "wrong password". Counters are
in the cache (Redis in production), so they hold across processes and Lambda instances without
tables of their own.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.http import HttpRequest
from django.shortcuts import render

from portal.clients import client_ip
from portal.counters import count_hit

WINDOW_S = 15 * 60


def _keys(request: HttpRequest, username: str) -> list[str]:
    return [
        f"login-fail:ip:{client_ip(request)}",
        f"login-fail:user:{username.strip().lower()[:150]}",
    ]


def is_locked(request: HttpRequest, username: str) -> bool:
    return any(cache.get(key, 0) >= settings.LOGIN_RATE_LIMIT for key in _keys(request, username))


def record_failure(request: HttpRequest, username: str) -> None:
    for key in _keys(request, username):
        count_hit(key, WINDOW_S)


class LoginLimitGate(ModelBackend):
    """An authentication backend that only refuses: listed before Django's ModelBackend, it
    stops every password check while the lock holds (even the right password), and otherwise
    lets ModelBackend do the one check. Sessions keep naming ModelBackend, so adding the gate
    logs nobody out; it loads users as ModelBackend does (get_user) for sessions that name it."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, **kwargs: Any
    ) -> None:
        if request is not None and is_locked(request, str(username or "")):
            raise PermissionDenied("Too many failed logins")  # stops the backends after it


@receiver(user_login_failed)
def _count_failure(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    if request is not None:
        record_failure(request, str(credentials.get("username", "")))


def locked_response(request: HttpRequest) -> Any:
    """The HTML answer while the lock holds (the API answers 429 `throttled` itself)."""
    response = render(request, "registration/locked.html", status=429)
    response["Retry-After"] = str(WINDOW_S)
    return response
