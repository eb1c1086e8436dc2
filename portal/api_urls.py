"""Everything under /api/: imported on the first API request or reverse(), not at start-up."""

from __future__ import annotations

from typing import Any

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal import api, error_pages
from portal.lazy_urls import lazy_include


def urlpatterns() -> list[Any]:
    """Read when first needed, so PORTAL_MODULES is read then (tests remount with overrides)."""
    patterns: list[Any] = [
        path("", api.APIRootView.as_view(), name="api-root"),
        path("me/", api.MeView.as_view(), name="api-me"),
        path("auth/token/", api.ObtainTokenView.as_view(), name="api-token"),
        path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
        path(
            "docs/",
            # Swagger UI sets inline styles; scripts stay 'self' only.
            csp_update({"style-src": [UNSAFE_INLINE]})(
                login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema"))
            ),
            name="api-docs",
        ),
    ]
    for label in settings.PORTAL_MODULES:
        patterns.append(
            lazy_include(f"{label}/", f"modules.{label}.urls", "api_urlpatterns", f"{label}_api")
        )
    # Unknown API paths answer 404 in the error envelope even with DEBUG on, and for any
    # method: a POST there is not a CSRF failure, there is nothing to protect.
    patterns.append(re_path(r"^", csrf_exempt(error_pages.not_found)))
    return patterns
