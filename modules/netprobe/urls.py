from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from modules.netprobe import api, status_api, views, views_monitor_edit, views_monitors
from modules.netprobe.vantages import api as vantage_api

urlpatterns = [
    path("", views.index, name="index"),
    path("run/", views.run, name="run"),
    path("results/<int:pk>/", views.result_detail, name="result"),
    path("history/", views.history, name="history"),
    path("monitors/", views_monitors.monitors, name="monitors"),
    path("monitors/live/", views_monitors.monitors_live, name="monitors-live"),
    path("monitors/new/", views_monitor_edit.monitor_create, name="monitor-create"),
    path("monitors/<int:pk>/", views_monitors.monitor_detail, name="monitor"),
    path("monitors/<int:pk>/live/", views_monitors.monitor_live, name="monitor-live"),
    path("monitors/<int:pk>/pause/", views_monitor_edit.monitor_pause, name="monitor-pause"),
    path("monitors/<int:pk>/resume/", views_monitor_edit.monitor_resume, name="monitor-resume"),
    path("monitors/<int:pk>/edit/", views_monitor_edit.monitor_edit, name="monitor-edit"),
    path("monitors/<int:pk>/delete/", views_monitor_edit.monitor_delete, name="monitor-delete"),
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
