"""URL includes imported on the first request under their prefix, not at start-up.

A cold start on Lambda answers /healthz without importing DRF, drf-spectacular or any module's
views; `reverse()` or a request under the prefix imports them (Django's URLResolver reads
`urlpatterns` from the object it is given only when it needs them).
"""

from __future__ import annotations

from functools import cached_property
from importlib import import_module
from typing import Any

from django.urls.resolvers import RoutePattern, URLResolver


class _LazyURLConf:
    def __init__(self, module: str, attribute: str) -> None:
        self.module = module
        self.attribute = attribute

    @cached_property
    def urlpatterns(self) -> list[Any]:
        value = getattr(import_module(self.module), self.attribute)
        return value() if callable(value) else value


def lazy_include(
    prefix: str, module: str, attribute: str = "urlpatterns", namespace: str | None = None
) -> URLResolver:
    """Like path(prefix, include((module.attribute, namespace))), imported on first use.
    ``attribute`` may name a function returning the patterns (read when first needed)."""
    return URLResolver(
        RoutePattern(prefix, is_endpoint=False),
        _LazyURLConf(module, attribute),
        app_name=namespace,
        namespace=namespace,
    )
