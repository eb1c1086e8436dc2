"""Who is calling: the client's address behind the configured number of trusted proxies."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address, counting NUM_PROXIES trusted proxies the way DRF's throttles do.

    Behind a load balancer REMOTE_ADDR is the balancer: keyed on it, ten wrong passwords from
    anyone would lock everyone out.
    """
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.NUM_PROXIES and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-min(settings.NUM_PROXIES, len(hops))]
    return request.META.get("REMOTE_ADDR", "")
