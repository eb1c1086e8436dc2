from __future__ import annotations

from portal.apps import PortalModuleConfig


class SosConfig(PortalModuleConfig):
    default = True
    name = "modules.sos"
    label = "sos"
    verbose_name = "SOS_Broadcast"
    title = "SOS_Broadcast"
    description = (
        "Emergency alerts fanned out over email, SMS, webhooks and chat, "
        "tracked until acknowledged."
    )
    card_context = "modules.sos.views.card_context"
