from __future__ import annotations

from django.urls import path

from modules.sos import api, views

urlpatterns = [
    path("", views.index, name="index"),
]

api_urlpatterns = [
    path("", api.RootView.as_view(), name="root"),
]
