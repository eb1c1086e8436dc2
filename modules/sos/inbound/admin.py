"""Inbound replies in the admin: read-only, like the event log (registered from sos/admin.py)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from modules.sos.models import InboundMessage


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    list_display = ["received_at", "provider", "sender", "outcome", "alert_id", "body"]
    list_filter = ["provider", "outcome", "received_at"]
    search_fields = ["sender", "body", "message_id"]
    date_hierarchy = "received_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
