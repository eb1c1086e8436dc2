from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portal import login_limits  # noqa: F401  connects the failed-login counter


class PortalModuleConfig(AppConfig):
    """Base for the three modules: what the dashboard and the URL conf need to mount one."""

    default_auto_field = "django.db.models.BigAutoField"
    title: str = ""
    description: str = ""
    # Dotted path to `card_context(request) -> dict` rendered into "<label>/_card.html".
    card_context: str = ""
    # Dotted path to `readiness() -> dict[str, str]`: named checks for /readyz, "ok" when ready.
    # It must stay cheap (no heavy imports): load balancers call it every few seconds.
    readiness: str = ""
