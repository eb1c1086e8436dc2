from __future__ import annotations

from django.urls import path

from portal.finops import views

urlpatterns = [path("", views.infrastructure, name="infrastructure")]
