"""Mounted at the root (portal/urls.py), where blackbox_exporter serves them."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("probe", views.probe, name="prometheus-probe"),
    path("metrics", views.metrics, name="prometheus-metrics"),
]
