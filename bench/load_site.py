"""The baseline of bench/load.py: a bare DRF ListAPIView over the portal's probe rows.

Settings and URLs in one module (DJANGO_SETTINGS_MODULE=bench.load_site): the portal's settings
with no middleware, no authentication, no throttling and no request logging, and one view whose
serializer is a plain ModelSerializer of every column.
"""

from __future__ import annotations

from typing import Any

from portal.settings import *  # noqa: F403

MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.load_site"
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_THROTTLE_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}


def _urlpatterns() -> list[Any]:
    from django.urls import path
    from rest_framework import generics, serializers

    from modules.netprobe.models import ProbeResult
    from portal.pagination import Pagination

    class BareSerializer(serializers.ModelSerializer):
        class Meta:
            model = ProbeResult
            fields = "__all__"

    class BareList(generics.ListAPIView):
        queryset = ProbeResult.objects.order_by("-id")
        serializer_class = BareSerializer
        pagination_class = Pagination

    return [path("bare/probes/", BareList.as_view())]


def __getattr__(name: str) -> Any:
    # The URL conf is read after apps are ready; settings are read before (models import late).
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)
