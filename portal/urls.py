from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from portal import health, views
from portal.lazy_urls import lazy_include

handler400 = "portal.error_pages.bad_request"
handler403 = "portal.error_pages.permission_denied"
handler404 = "portal.error_pages.not_found"
handler500 = "portal.error_pages.server_error"

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
        views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("admin/login/", views.admin_login),
    path("admin/", admin.site.urls),
    # The API and the modules are imported on first use: a Lambda cold start answers /healthz
    # without DRF, drf-spectacular or any module's views (bench/cold_start.py).
    lazy_include("api/", "portal.api_urls"),
    lazy_include("infrastructure/", "portal.finops.urls"),
]

for label in settings.PORTAL_MODULES:
    urlpatterns.append(lazy_include(f"{label}/", f"modules.{label}.urls", namespace=label))

if "netprobe" in settings.PORTAL_MODULES:
    # NetProbe's public status pages (no login) live at the root, where people expect them.
    urlpatterns.append(lazy_include("status/", "modules.netprobe.status_urls", namespace="status"))
    # /probe and /metrics where Prometheus scrape configs written for blackbox_exporter look.
    urlpatterns.append(lazy_include("", "modules.netprobe.prometheus.urls"))
