"""Operator UI for status pages and maintenance, under /netprobe/ (names in `netprobe:`)."""

from __future__ import annotations

from django.urls import path

from modules.netprobe import status_manage_views as views

urlpatterns = [
    path("status-pages/", views.pages, name="status-pages"),
    path("status-pages/new/", views.page_edit, name="status-page-create"),
    path("status-pages/<int:pk>/", views.page_detail, name="status-page"),
    path("status-pages/<int:pk>/edit/", views.page_edit, name="status-page-edit"),
    path("status-pages/<int:pk>/incidents/", views.incident_create, name="incident-create"),
    path("incidents/<int:pk>/updates/", views.incident_post_update, name="incident-update"),
    path("maintenance/new/", views.maintenance_edit, name="maintenance-create"),
    path("maintenance/<int:pk>/edit/", views.maintenance_edit, name="maintenance-edit"),
    path("maintenance/<int:pk>/delete/", views.maintenance_delete, name="maintenance-delete"),
]
