"""SOS_Broadcast in the admin. Django imports every admin.py at start-up (each Lambda cold
start), so the services, and the channels behind them, are imported by the actions that use them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.text import Truncator

from modules.sos.errors import SosError
from modules.sos.models import Alert, AlertEvent, Contact, ContactMethod, Delivery, Group

SHORT_MESSAGE = 60  # characters of an alert's message in the admin list


class ContactMethodInline(admin.TabularInline):
    model = ContactMethod
    extra = 0
    fields = ["kind", "address", "label", "is_enabled", "last_error", "last_success_at"]
    readonly_fields = ["last_error", "last_success_at"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "method_kinds", "group_names", "updated_at"]
    list_filter = ["is_active", "groups", "methods__kind"]
    search_fields = ["name", "notes", "methods__address"]
    inlines = [ContactMethodInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contact]:
        return super().get_queryset(request).prefetch_related("methods", "groups")

    @admin.display(description="Methods")
    def method_kinds(self, contact: Contact) -> str:
        return ", ".join(m.kind for m in contact.methods.all())

    @admin.display(description="Groups")
    def group_names(self, contact: Contact) -> str:
        return ", ".join(g.name for g in contact.groups.all())


@admin.register(ContactMethod)
class ContactMethodAdmin(admin.ModelAdmin):
    list_display = [
        "contact",
        "kind",
        "display_address",
        "is_enabled",
        "last_error_at",
        "last_success_at",
    ]
    list_filter = ["kind", "is_enabled"]
    search_fields = ["address", "label", "contact__name"]
    list_select_related = ["contact"]
    readonly_fields = [
        "last_error",
        "last_error_at",
        "last_success_at",
        "opted_out_at",  # only the number's owner changes it, by texting STOP / START
        "created_at",
    ]
    actions = ["send_test"]

    @admin.action(description="Send a test message")
    def send_test(self, request: HttpRequest, queryset: QuerySet[ContactMethod]) -> None:
        from modules.sos import services

        for method in queryset.select_related("contact"):
            try:
                result = services.contact_method_test(
                    method=method, by=request.user, source="admin"
                )
            except SosError as exc:
                self.message_user(request, f"{method}: {exc.message}", messages.ERROR)
                continue
            if result.ok:
                self.message_user(request, f"{method}: test sent ({result.duration_ms} ms).")
            else:
                self.message_user(request, f"{method}: test failed: {result.error}", messages.ERROR)


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "member_count"]
    search_fields = ["name", "description"]
    filter_horizontal = ["members"]

    @admin.display(description="Members")
    def member_count(self, group: Group) -> int:
        return group.members.count()


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = ["contact_name", "kind", "address", "state", "attempts", "last_error", "answer"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    # When first: beside the filters the list is narrow, and the last columns scroll away.
    list_display = [
        "id",
        "created_at",
        "severity",
        "status",
        "short_message",
        "source",
        "raised_by",
        "is_test",
    ]
    list_filter = ["status", "severity", "source", "is_test", "require_ack", "created_at"]
    search_fields = ["message", "dedup_key", "idempotency_key"]
    date_hierarchy = "created_at"
    list_select_related = ["raised_by"]
    readonly_fields = [
        "raised_by",
        "source",
        "idempotency_scope",
        "idempotency_key",
        "idempotency_fingerprint",
        "dedup_count",
        "reminders_sent",
        "escalated_at",
        "escalation_status",
        "escalation_step",
        "escalation_waves",
        "created_at",
        "closed_at",
        "closed_by",
    ]
    inlines = [DeliveryInline]
    actions = ["cancel_alerts"]

    class Media:
        css = {"all": ["sos/admin.css"]}

    @admin.display(description="Message")
    def short_message(self, alert: Alert) -> str:
        text = " ".join(alert.message.split())
        return format_html('<span title="{}">{}</span>', text, Truncator(text).chars(SHORT_MESSAGE))

    @admin.action(description="Cancel what is not yet sent")
    def cancel_alerts(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        from modules.sos import services

        stopped = 0
        for alert in queryset.filter(status=Alert.Status.OPEN):
            stopped += services.alert_cancel(alert=alert, by=request.user)
        self.message_user(request, f"Cancelled; {stopped} deliveries will not be sent.")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "alert_id",
        "contact_name",
        "kind",
        "state",
        "attempts",
        "round",
        "answer",
        "updated_at",
    ]
    list_filter = ["state", "kind", "answer", "escalation"]
    search_fields = ["contact_name", "address", "provider_message_id", "last_error"]
    raw_id_fields = ["alert", "method", "contact"]
    readonly_fields = [
        "lease_token",
        "lease_until",
        "provider_message_id",
        "created_at",
        "updated_at",
        "last_attempt_at",
        "sent_at",
        "acknowledged_at",
        "closed_at",
    ]
    actions = ["retry"]

    @admin.action(description="Retry failed deliveries")
    def retry(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        from modules.sos import services

        done = 0
        for delivery in queryset.filter(state=Delivery.State.FAILED):
            try:
                services.delivery_retry(delivery=delivery, by=request.user)
                done += 1
            except SosError as exc:
                self.message_user(request, f"#{delivery.pk}: {exc.message}", messages.WARNING)
        self.message_user(request, f"{done} deliveries queued again.")


@admin.register(AlertEvent)
class AlertEventAdmin(admin.ModelAdmin):
    """The audit trail: readable, never editable."""

    list_display = ["created_at", "alert_id", "kind", "message", "actor"]
    list_filter = ["kind", "created_at"]
    search_fields = ["message"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# Registered from their own files.
from modules.sos import (  # noqa: E402, F401
    escalation_admin,
    integration_admin,
)
from modules.sos.inbound import admin as inbound_admin  # noqa: E402, F401
