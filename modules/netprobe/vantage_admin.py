"""Vantages in the Django admin (imported by admin.py): the last health check and its latency
in the list, a "check now" action, edits through the same services as the API. Admin
autodiscovery runs at every cold start: the services and the client are imported by the
methods that use them."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from modules.netprobe.models import Vantage


class VantageForm(forms.ModelForm):
    url = forms.URLField(
        max_length=500, assume_scheme="https", help_text="Base URL of the vantage."
    )
    secret = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="At least 32 bytes; leave blank to keep the current one.",
    )

    class Meta:
        model = Vantage
        fields = ["name", "region", "url", "secret", "enabled"]

    def clean(self) -> dict[str, Any]:
        from modules.netprobe.vantages.services import (
            VantageInUse,
            VantageInvalid,
            vantage_clean,
            vantage_in_use_check,
        )
        from portal.egress import EgressForbidden

        data = super().clean()
        if self.instance.pk is not None and data.get("name") not in (None, self.instance.name):
            try:
                vantage_in_use_check(vantage=self.instance, doing="rename")
            except VantageInUse as exc:
                self.add_error("name", exc.message)
        secret = data.get("secret") or None
        if secret is None and self.instance.pk is None:
            self.add_error("secret", "A secret is required.")
        url = data.get("url")
        changed_url = url if url and url != self.instance.url else None
        try:
            vantage_clean(name=data.get("name"), url=changed_url, secret=secret)
        except VantageInvalid as exc:
            for name, text in exc.errors.items():
                self.add_error(name if name in self.fields else None, text)
        except EgressForbidden as exc:
            self.add_error("url", exc.message)
        return data


@admin.register(Vantage)
class VantageAdmin(admin.ModelAdmin):
    form = VantageForm
    list_display = [
        "name",
        "region",
        "url",
        "enabled",
        "last_check_ok",
        "last_check_latency_ms",
        "last_check_at",
        "last_check_error",
    ]
    list_filter = ["enabled", "region", "last_check_ok"]
    search_fields = ["name", "region", "url"]
    readonly_fields = [
        "last_check_at",
        "last_check_ok",
        "last_check_latency_ms",
        "last_check_error",
        "created_at",
        "updated_at",
    ]
    actions = ["check_now"]

    def save_model(self, request: HttpRequest, obj: Vantage, form: Any, change: bool) -> None:
        """Through the services, like the API (the form already checked URL and secret)."""
        from modules.netprobe.vantages import services

        fields = {name: form.cleaned_data.get(name) for name in services.FIELDS}
        if change:
            saved = services.vantage_update(vantage=Vantage.objects.get(pk=obj.pk), **fields)
        else:
            saved = services.vantage_create(**fields)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def has_delete_permission(self, request: HttpRequest, obj: Vantage | None = None) -> bool:
        """Not while monitors name it (they would be unknown at every round)."""
        from modules.netprobe.vantages.services import vantage_users

        if obj is not None and vantage_users(name=obj.name):
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Vantage]) -> None:
        from modules.netprobe.vantages.services import VantageInUse, vantage_delete

        for vantage in queryset:
            try:
                vantage_delete(vantage=vantage)
            except VantageInUse as exc:
                self.message_user(request, exc.message, messages.ERROR)

    def delete_model(self, request: HttpRequest, obj: Vantage) -> None:
        from modules.netprobe.vantages.services import vantage_delete

        vantage_delete(vantage=obj)  # has_delete_permission refused one in use

    @admin.action(description="Check now (signed health request)")
    def check_now(self, request: HttpRequest, queryset: QuerySet[Vantage]) -> None:
        from modules.netprobe.vantages.services import vantage_check_many

        # All at once: one dark vantage must not make the page wait for each in turn.
        checked_all = vantage_check_many(vantages=list(queryset))
        for checked in checked_all:
            if checked.last_check_ok:
                text = f"{checked.name}: ok in {checked.last_check_latency_ms:.0f} ms"
                self.message_user(request, text, messages.SUCCESS)
            else:
                text = f"{checked.name}: {checked.last_check_error}"
                self.message_user(request, text, messages.WARNING)
