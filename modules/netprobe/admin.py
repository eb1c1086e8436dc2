"""NetProbe in the Django admin: results read-only; monitors edited with one field per probe
option (derived as the UI form's, forms.py) and saved through the same services. Django imports
every admin.py at start-up (each Lambda cold start), so the forms and the services, with the
probe engines and SOS behind them, are imported by the methods that use them."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from modules.netprobe.models import Monitor, MonitorTransition, ProbeResult


@admin.register(ProbeResult)
class ProbeResultAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "target", "status", "error_code", "response_ms", "started_at"]
    list_filter = ["kind", "status", "error_code", "started_at"]
    search_fields = ["target"]
    date_hierarchy = "started_at"
    list_select_related = ["monitor"]
    raw_id_fields = ["monitor", "created_by"]
    # Results are records of what happened: readable, not editable.
    readonly_fields = [f.name for f in ProbeResult._meta.fields]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ProbeResult]:
        return super().get_queryset(request).defer("result")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MonitorTransitionInline(admin.TabularInline):
    model = MonitorTransition
    fields = ["at", "from_state", "to_state", "reason", "alert_id", "alert_error"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    ordering = ["-at"]
    can_delete = False


@admin.register(Monitor)
class MonitorAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "target", "state", "enabled", "interval_s", "last_run_at"]
    list_filter = ["kind", "state", "enabled"]
    search_fields = ["name", "target"]
    readonly_fields = [
        "state",
        "consecutive_failures",
        "consecutive_successes",
        "next_run_at",
        "last_run_at",
        "last_result",
        "cert_warned_expiry",
        "created_by",
        "created_at",
        "updated_at",
    ]
    inlines = [MonitorTransitionInline]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm]:
        from modules.netprobe.forms import monitor_admin_form

        kwargs["form"] = monitor_admin_form()
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[tuple[Any, Any]]:
        from modules.netprobe.forms import ADMIN_MONITOR_FIELDS, option_fieldsets

        state = {"fields": self.readonly_fields, "classes": ["collapse"]}
        return [(None, {"fields": ADMIN_MONITOR_FIELDS}), *option_fieldsets(), ("State", state)]

    def save_model(self, request: HttpRequest, obj: Monitor, form: Any, change: bool) -> None:
        """Through the services, like the UI and the API: a changed probe restarts the state."""
        from modules.netprobe import services
        from modules.netprobe.forms import ADMIN_MONITOR_FIELDS

        fields = {name: form.cleaned_data[name] for name in (*ADMIN_MONITOR_FIELDS, "options")}
        if change:
            saved = services.monitor_update(monitor=Monitor.objects.get(pk=obj.pk), **fields)
        else:
            saved = services.monitor_create(user=request.user, **fields)
        obj.pk = saved.pk
        obj.refresh_from_db()


# Status pages and maintenance windows; vantages.
from modules.netprobe import status_admin, vantage_admin  # noqa: E402, F401
