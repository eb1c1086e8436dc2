"""Failed logins are limited per client address and per username, in the browser and the API."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

WINDOW_S = 15 * 60


def client_ip(request: HttpRequest) -> str:
    """The client's address, counting NUM_PROXIES trusted proxies the way DRF's throttles do.

    Behind a load balancer REMOTE_ADDR is the balancer: keyed on it, ten wrong passwords from
    anyone would lock everyone out.
    """
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.NUM_PROXIES and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-min(settings.NUM_PROXIES, len(hops))]
    return request.META.get("REMOTE_ADDR", "")


def _keys(request: HttpRequest, username: str) -> list[str]:
    return [
        f"login-fail:ip:{client_ip(request)}",
        f"login-fail:user:{username.strip().lower()[:150]}",
    ]


def is_locked(request: HttpRequest, username: str) -> bool:
    return any(cache.get(key, 0) >= settings.LOGIN_RATE_LIMIT for key in _keys(request, username))


def record_failure(request: HttpRequest, username: str) -> None:
    for key in _keys(request, username):
        cache.add(key, 0, WINDOW_S)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, WINDOW_S)
