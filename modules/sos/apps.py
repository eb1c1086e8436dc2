from __future__ import annotations

from typing import Any

from django.core import checks

from portal.apps import PortalModuleConfig


def check_public_base_url(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from django.conf import settings

    from modules.sos.ack_links import public_base_url

    if settings.DEBUG or settings.PUBLIC_BASE_URL or "127.0.0.1" not in public_base_url():
        return []
    return [
        checks.Warning(
            "Links in SOS messages would point at http://127.0.0.1:8000.",
            hint="Set PUBLIC_BASE_URL to the portal's public address, e.g. "
            "https://portal.example.com (or list that name first in ALLOWED_HOSTS).",
            id="sos.W001",
        )
    ]


class SosConfig(PortalModuleConfig):
    default = True
    name = "modules.sos"
    label = "sos"
    verbose_name = "SOS Broadcast"
    title = "SOS Broadcast"
    description = (
        "Emergency alerts fanned out over email, SMS, webhooks and chat, "
        "tracked until acknowledged."
    )
    card_context = "modules.sos.views.card_context"

    def ready(self) -> None:
        from modules.sos.outbox.leases import check_lease_settings

        check_lease_settings()  # a lease shorter than one send would let a row go out twice
        checks.register(check_public_base_url, checks.Tags.security, deploy=True)
