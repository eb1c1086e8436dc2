"""Counters in the shared cache for rate limits (failed logins, acknowledgements)."""

from __future__ import annotations

from django.core.cache import cache


def count_hit(key: str, window_s: int) -> int:
    """Add one to `key`, which lives `window_s` from its first hit; the count so far."""
    cache.add(key, 0, window_s)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window_s)
        return 1
