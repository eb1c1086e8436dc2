from __future__ import annotations

from portal.apps import PortalModuleConfig


class NetprobeConfig(PortalModuleConfig):
    default = True
    name = "modules.netprobe"
    label = "netprobe"
    verbose_name = "NetProbe"
    title = "NetProbe"
    description = "Network diagnostics and monitors: DNS, TCP, HTTP(S), TLS, ping and traceroute."
    card_context = "modules.netprobe.views.card_context"
