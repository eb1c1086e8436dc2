"""Public status pages at the root: /status/<slug>/, /status/<slug>.json, .../feed.atom."""

from __future__ import annotations

from django.urls import path

from modules.netprobe import status_views

urlpatterns = [
    path("<slug:slug>/", status_views.page_html, name="page"),
    path("<slug:slug>.json", status_views.page_json, name="json"),
    path("<slug:slug>/feed.atom", status_views.page_feed, name="feed"),
]
