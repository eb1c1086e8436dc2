"""Which modules this deployment mounts (PORTAL_MODULES), and what the dashboard shows of them."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.http import HttpRequest
from django.utils.module_loading import import_string

from portal.apps import PortalModuleConfig


def enabled_modules() -> list[PortalModuleConfig]:
    return [apps.get_app_config(label) for label in settings.PORTAL_MODULES]  # type: ignore[misc]


def is_enabled(label: str) -> bool:
    return label in settings.PORTAL_MODULES


def card(module: PortalModuleConfig, request: HttpRequest) -> dict[str, Any]:
    context: dict[str, Any] = {"module": module, "template": f"{module.label}/_card.html"}
    if module.card_context:
        context.update(import_string(module.card_context)(request))
    return context
