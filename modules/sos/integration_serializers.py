"""Serializers of the Events API v2 intake: integrations, and PagerDuty's event and answers.

The event serializer validates what arrives at /api/sos/events/v2/enqueue and documents it in
the schema; its errors are turned into PagerDuty's `errors` strings ("payload.summary: ...").
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from modules.sos.ack_links import public_base_url
from modules.sos.integration_models import DEFAULT_SEVERITY_MAP, NAME_MAX, Integration
from modules.sos.integrations import EVENT_ACTIONS
from modules.sos.models import Group
from portal.roles import is_operator

PD_SEVERITIES = ("critical", "error", "warning", "info")
ROUTING_KEY_LENGTH = 32
TEXT_MAX = 1024  # PagerDuty's limit on payload.summary; the other strings share it here
LIST_MAX = 50


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
class SeverityMapField(serializers.JSONField):
    pass


@extend_schema_serializer(component_name="SosIntegration")
class IntegrationSerializer(serializers.ModelSerializer):
    name = serializers.CharField(max_length=NAME_MAX)
    groups = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Group.objects.all(), required=False
    )
    severity_map = SeverityMapField(
        required=False,
        help_text="PagerDuty severity (critical, error, warning, info) -> alert severity "
        f"(critical, warning, info); default {DEFAULT_SEVERITY_MAP}.",
    )
    routing_key = serializers.SerializerMethodField(
        help_text="The credential senders put in `routing_key`; operators see it whole."
    )
    enqueue_url = serializers.SerializerMethodField(
        help_text="Where to send events (Alertmanager `url`, Uptime Kuma 'Integration URL')."
    )
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Integration
        fields = [
            "id",
            "name",
            "groups",
            "escalation_policy",
            "message_template",
            "severity_map",
            "require_ack",
            "enabled",
            "routing_key",
            "enqueue_url",
            "created_by",
            "created_at",
            "last_event_at",
            "last_error",
        ]
        read_only_fields = ["created_at", "last_event_at", "last_error"]

    def get_routing_key(self, integration: Integration) -> str:
        request = self.context.get("request")
        if request is not None and is_operator(request.user):
            return integration.routing_key
        return "…" + integration.routing_key[-4:]  # viewers must not be able to raise alerts

    def get_enqueue_url(self, integration: Integration) -> str:
        # The public address, as in ack links: behind API Gateway or a proxy the request's
        # own host is an internal one senders cannot reach.
        return public_base_url().rstrip("/") + reverse("sos_api:events-v2-enqueue")


class EventLinkSerializer(serializers.Serializer):
    href = serializers.CharField(max_length=TEXT_MAX)
    text = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)


class EventImageSerializer(serializers.Serializer):
    src = serializers.CharField(max_length=TEXT_MAX)
    href = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    alt = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)


class EventPayloadSerializer(serializers.Serializer):
    summary = serializers.CharField(max_length=TEXT_MAX)
    source = serializers.CharField(max_length=TEXT_MAX)
    severity = serializers.ChoiceField(choices=PD_SEVERITIES)
    timestamp = serializers.CharField(max_length=64, required=False, allow_blank=True)
    component = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    group = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    custom_details = serializers.JSONField(required=False, allow_null=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["class"] = serializers.CharField(
            max_length=TEXT_MAX, required=False, allow_blank=True
        )
        return fields


@extend_schema_serializer(component_name="SosEventV2")
class EventSerializer(serializers.Serializer):
    """PagerDuty's Events API v2 alert event. `payload` is required for trigger and ignored
    otherwise; `dedup_key` is required for acknowledge and resolve."""

    routing_key = serializers.CharField(trim_whitespace=False)
    event_action = serializers.ChoiceField(choices=EVENT_ACTIONS)
    dedup_key = serializers.CharField(max_length=255, required=False, allow_blank=True)
    payload = EventPayloadSerializer(required=False)
    client = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    client_url = serializers.CharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    links = serializers.ListField(
        child=EventLinkSerializer(), required=False, allow_null=True, max_length=LIST_MAX
    )
    images = serializers.ListField(
        child=EventImageSerializer(), required=False, allow_null=True, max_length=LIST_MAX
    )

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and data.get("event_action") != "trigger":
            data = {k: v for k, v in data.items() if k != "payload"}
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Whole sentences that name their field, PagerDuty's style; the first is its own words
        # (its documented 400 example).
        action = attrs["event_action"]
        if len(attrs["routing_key"]) != ROUTING_KEY_LENGTH:
            raise serializers.ValidationError(
                f"Length of 'routing_key' is incorrect (should be {ROUTING_KEY_LENGTH} characters)"
            )
        if action == "trigger" and not attrs.get("payload"):
            raise serializers.ValidationError("'payload' is required for trigger events")
        if action != "trigger" and not attrs.get("dedup_key"):
            raise serializers.ValidationError(f"'dedup_key' is required for {action} events")
        return attrs


def error_strings(detail: Any, prefix: str = "") -> list[str]:
    """DRF's nested errors as PagerDuty-style strings: "payload.severity: ..."."""
    if isinstance(detail, dict):
        out: list[str] = []
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            out += error_strings(value, f"{prefix}.{name}" if prefix and name else prefix or name)
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return [f"{prefix}: {item}" if prefix else str(item) for item in detail]
        return [s for i, item in enumerate(detail) for s in error_strings(item, f"{prefix}.{i}")]
    return [f"{prefix}: {detail}" if prefix else str(detail)]


@extend_schema_serializer(component_name="SosEventAccepted")
class EventAcceptedSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"success"')
    message = serializers.CharField(help_text='"Event processed"')
    dedup_key = serializers.CharField()


@extend_schema_serializer(component_name="SosEventError")
class EventErrorSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='e.g. "invalid event", "throttle event"')
    message = serializers.CharField()
    errors = serializers.ListField(child=serializers.CharField())
