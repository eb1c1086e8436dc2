from __future__ import annotations

from importlib import import_module

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authtoken.views import obtain_auth_token

from portal import api, errors, health, views

handler400 = "portal.errors.bad_request"
handler403 = "portal.errors.permission_denied"
handler404 = "portal.errors.not_found"
handler500 = "portal.errors.server_error"

admin.site.site_header = f"{settings.SITE_NAME} administration"
admin.site.site_title = settings.SITE_NAME

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("favicon.ico", views.favicon),
    path("readyz", health.readyz, name="readyz"),
    path("", views.dashboard, name="dashboard"),
    path("dashboard/cards/<slug:label>/", views.dashboard_card, name="dashboard-card"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("admin/", admin.site.urls),
    path("api/", api.APIRootView.as_view(), name="api-root"),
    path("api/me/", api.MeView.as_view(), name="api-me"),
    path("api/auth/token/", obtain_auth_token, name="api-token"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        # Swagger UI sets inline styles; scripts stay 'self' only.
        csp_update({"style-src": [UNSAFE_INLINE]})(
            login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema"))
        ),
        name="api-docs",
    ),
]

for label in settings.PORTAL_MODULES:
    module_urls = import_module(f"modules.{label}.urls")
    urlpatterns += [
        path(f"{label}/", include((module_urls.urlpatterns, label))),
        path(f"api/{label}/", include((module_urls.api_urlpatterns, f"{label}_api"))),
    ]

# Unknown API paths answer in the error envelope even with DEBUG on.
urlpatterns.append(re_path(r"^api/", errors.not_found))
