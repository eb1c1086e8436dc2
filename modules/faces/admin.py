"""Faces in the admin. Django imports every admin.py at start-up (each Lambda cold start), so
the services, and the engine and PIL behind them, are imported by the actions that use them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from modules.faces import models


@admin.register(models.Comparison)
class ComparisonAdmin(admin.ModelAdmin):
    """The comparison log: read-only (it is an audit trail); entries may be deleted."""

    list_display = [
        "created_at",
        "user",
        "source",
        "verdict",
        "error_code",
        "distance",
        "threshold",
        "pick",
        "faces_a",
        "faces_b",
        "has_images",
    ]
    list_filter = ["verdict", "source", "pick", "created_at"]
    search_fields = ["user__username", "error_code"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    readonly_fields = [field.name for field in models.Comparison._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(boolean=True, description="photos stored")
    def has_images(self, obj: models.Comparison) -> bool:
        return obj.has_images


@admin.register(models.Reference)
class ReferenceAdmin(admin.ModelAdmin):
    """References are enrolled from a photo in the UI or the API; here they can be renamed
    or deleted (the descriptor and thumbnail go with them)."""

    list_display = ["name", "created_by", "created_at", "has_thumbnail"]
    search_fields = ["name"]
    list_filter = ["created_at"]
    list_select_related = ["created_by"]
    fields = ["name", "created_by", "created_at", "thumbnail"]
    readonly_fields = ["created_by", "created_at", "thumbnail"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(boolean=True, description="thumbnail")
    def has_thumbnail(self, obj: models.Reference) -> bool:
        return bool(obj.thumbnail)

    def delete_model(self, request: HttpRequest, obj: models.Reference) -> None:
        from modules.faces import services

        services.reference_delete(reference=obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        from modules.faces import services

        for reference in queryset:
            services.reference_delete(reference=reference)
