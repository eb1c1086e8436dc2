"""Events API v2 integrations in the admin (imported by admin.py). Saving goes through the
services, so a forbidden template tag or a taken name is refused here as in the API."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from modules.sos.integration_models import Integration, IntegrationAlert


class IntegrationForm(forms.ModelForm):
    class Meta:
        model = Integration
        fields = [
            "name",
            "groups",
            "escalation_policy",
            "message_template",
            "severity_map",
            "require_ack",
            "enabled",
        ]

    def clean(self) -> dict[str, Any]:
        """The services' checks (integrations._checked, a name free in any case), so the admin
        refuses what the API refuses."""
        from modules.sos.errors import SosError
        from modules.sos.integrations import _checked, _name_free

        cleaned = super().clean()
        try:
            checked = _checked(
                name=cleaned.get("name"),
                severity_map=cleaned.get("severity_map"),
                message_template=cleaned.get("message_template"),
            )
            if "name" in checked:
                _name_free(checked["name"], self.instance.pk)
        except SosError as exc:
            field = (exc.details or {}).get("field")
            raise forms.ValidationError(
                {field: exc.message} if field in self.fields else exc.message
            ) from None
        cleaned.update(checked)
        return cleaned


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    form = IntegrationForm
    list_display = ["name", "enabled", "require_ack", "last_event_at", "last_error"]
    list_filter = ["enabled"]
    search_fields = ["name"]
    filter_horizontal = ["groups"]
    readonly_fields = ["routing_key", "created_by", "created_at", "last_event_at", "last_error"]
    actions = ["rotate_keys"]

    def save_model(self, request: HttpRequest, obj: Integration, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    @admin.action(description="Rotate the routing keys (the old ones stop working)")
    def rotate_keys(self, request: HttpRequest, queryset: QuerySet[Integration]) -> None:
        from modules.sos.integrations import integration_rotate_key

        for integration in queryset:
            integration_rotate_key(integration=integration)
        self.message_user(request, f"Rotated {queryset.count()} key(s).", messages.SUCCESS)


@admin.register(IntegrationAlert)
class IntegrationAlertAdmin(admin.ModelAdmin):
    list_display = ["integration", "dedup_key", "alert", "acknowledged_at", "created_at"]
    list_filter = ["integration"]
    search_fields = ["dedup_key"]
    readonly_fields = ["integration", "alert", "dedup_key", "acknowledged_at", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
