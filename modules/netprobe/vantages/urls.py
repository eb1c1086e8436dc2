"""ROOT_URLCONF of a process started with NETPROBE_ROLE=vantage: the signed endpoints and
/healthz, nothing else (no UI, no login, no admin, no API)."""

from __future__ import annotations

from django.urls import path

from modules.netprobe.vantages import endpoint
from portal import health

handler400 = "modules.netprobe.vantages.endpoint.bad_request"
handler404 = "modules.netprobe.vantages.endpoint.not_found"
handler500 = "modules.netprobe.vantages.endpoint.server_error"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path(endpoint.PROBE_PATH.lstrip("/"), endpoint.probe, name="vantage-probe"),
    path(endpoint.HEALTH_PATH.lstrip("/"), endpoint.health, name="vantage-health"),
]
