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

    def ready(self) -> None:
        from django.conf import settings
        from django.core.handlers.asgi import ASGIHandler
        from django.core.handlers.wsgi import WSGIHandler
        from django.core.signals import request_started

        if settings.NETPROBE_SCHEDULER != "thread" or "netprobe" not in settings.PORTAL_MODULES:
            return  # a pod serving another module runs no monitors
        from modules.netprobe import scheduler

        # Only a real WSGI or ASGI server's requests start the scheduler: the test clients'
        # handlers are other classes, and signals match the sender exactly. `runserver` starts
        # it at once, so monitors run before anyone opens a page.
        for handler in (WSGIHandler, ASGIHandler):
            request_started.connect(scheduler.on_request, sender=handler, weak=False)
        if scheduler.serving_runserver():
            scheduler.start()
