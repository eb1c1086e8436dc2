from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from modules.netprobe import api, status_api, views
from modules.netprobe.vantages import api as vantage_api

urlpatterns = [
    path("", views.index, name="index"),
    path("run/", views.run, name="run"),
    path("results/<int:pk>/", views.result_detail, name="result"),
    path("history/", views.history, name="history"),
    path("monitors/", views.monitors, name="monitors"),
    path("monitors/live/", views.monitors_live, name="monitors-live"),
    path("monitors/new/", views.monitor_create, name="monitor-create"),
    path("monitors/<int:pk>/", views.monitor_detail, name="monitor"),
    path("monitors/<int:pk>/live/", views.monitor_live, name="monitor-live"),
    path("monitors/<int:pk>/pause/", views.monitor_pause, name="monitor-pause"),
    path("monitors/<int:pk>/resume/", views.monitor_resume, name="monitor-resume"),
    path("monitors/<int:pk>/edit/", views.monitor_edit, name="monitor-edit"),
    path("monitors/<int:pk>/delete/", views.monitor_delete, name="monitor-delete"),
    path("", include("modules.netprobe.status_manage_urls")),  # status pages, maintenance
]

router = SimpleRouter()
router.register("probes", api.ProbeViewSet, basename="probe")
router.register("monitors", api.MonitorViewSet, basename="monitor")
router.register("vantages", vantage_api.VantageViewSet, basename="vantage")
router.register("status-pages", status_api.StatusPageViewSet, basename="status-page")
router.register("incidents", status_api.IncidentViewSet, basename="incident")
router.register("maintenance", status_api.MaintenanceViewSet, basename="maintenance")

api_urlpatterns = [
    path("", api.RootView.as_view(), name="root"),
    path("batches/", api.BatchView.as_view(), name="batch"),
    path("", include(router.urls)),
]
