from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"
    default_auto_field = "django.db.models.BigAutoField"


class PortalModuleConfig(AppConfig):
    """Base for the three modules: what the dashboard and the URL conf need to mount one."""

    default_auto_field = "django.db.models.BigAutoField"
    title: str = ""
    description: str = ""
    # Dotted path to `card_context(request) -> dict` rendered into "<label>/_card.html".
    card_context: str = ""
