"""Status pages, incidents and maintenance windows in the Django admin (imported by admin.py).

Edits are checked by the same rules as the API and the UI (status.py). Admin autodiscovery runs
at every cold start: the services are imported by the methods that use them."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from modules.netprobe.status_models import (
    Incident,
    IncidentUpdate,
    MaintenanceWindow,
    StatusPage,
    StatusPageGroup,
    StatusPageMonitor,
)


def status_changed() -> None:
    from modules.netprobe.status_snapshot import status_changed as changed

    changed()


class StatusAdmin(admin.ModelAdmin):
    """Admin edits reach the public pages' cache as the service's writes do."""

    def save_related(
        self, request: HttpRequest, form: forms.ModelForm, formsets: list[Any], change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)  # after save_model, always
        status_changed()

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        super().delete_model(request, obj)
        status_changed()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        super().delete_queryset(request, queryset)
        status_changed()


class StatusPageGroupInline(admin.TabularInline):
    model = StatusPageGroup
    extra = 0
    show_change_link = True


@admin.register(StatusPage)
class StatusPageAdmin(StatusAdmin):
    list_display = ["title", "slug", "public", "updated_at"]
    list_filter = ["public"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["created_by", "created_at", "updated_at"]
    inlines = [StatusPageGroupInline]


class StatusPageMonitorInline(admin.TabularInline):
    model = StatusPageMonitor
    extra = 0
    raw_id_fields = ["monitor"]


@admin.register(StatusPageGroup)
class StatusPageGroupAdmin(StatusAdmin):
    list_display = ["name", "page", "position"]
    list_select_related = ["page"]
    inlines = [StatusPageMonitorInline]


class IncidentUpdateInline(admin.TabularInline):
    model = IncidentUpdate
    fields = ["at", "status", "message", "by"]
    readonly_fields = ["by"]
    extra = 0


@admin.register(Incident)
class IncidentAdmin(StatusAdmin):
    list_display = ["title", "page", "impact", "status", "created_at", "resolved_at"]
    list_filter = ["status", "impact", "page"]
    search_fields = ["title"]
    list_select_related = ["page"]
    readonly_fields = ["created_by"]
    inlines = [IncidentUpdateInline]


class MaintenanceForm(forms.ModelForm):
    class Meta:
        model = MaintenanceWindow
        fields = [*MaintenanceWindow.EDITABLE, "monitors", "pages"]

    def clean(self) -> dict[str, Any]:
        from modules.netprobe.status import StatusInvalid, maintenance_check

        data = super().clean()
        try:
            maintenance_check(dict(data))
        except StatusInvalid as exc:
            for name, text in exc.errors.items():
                self.add_error(name if name in self.fields else None, text)
        return data


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(StatusAdmin):
    form = MaintenanceForm
    list_display = ["title", "recurrence", "starts_at", "ends_at", "timezone"]
    list_filter = ["recurrence"]
    search_fields = ["title"]
    filter_horizontal = ["monitors", "pages"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
