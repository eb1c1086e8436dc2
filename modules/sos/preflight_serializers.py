"""API shapes of preflight warnings and of a contact method's test send."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from modules.sos.serializers import (
    AlertDetailSerializer,
    AlertSerializer,
    ContactMethodCreatedSerializer,
    ContactMethodSerializer,
    ContactSerializer,
)


@extend_schema_serializer(component_name="SosChannelWarning")
class ChannelWarningSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="The channel: email, sms, webhook or apprise.")
    code = serializers.CharField(help_text="Stable: aws_credentials_missing, email_host_missing, …")
    message = serializers.CharField()


def _warnings() -> ChannelWarningSerializer:
    return ChannelWarningSerializer(
        many=True,
        read_only=True,
        help_text="Channels used here that cannot send as the server is configured; the "
        "save or raise went ahead.",
    )


@extend_schema_serializer(component_name="SosContactMethodSaved")
class ContactMethodSavedSerializer(ContactMethodCreatedSerializer):
    warnings = _warnings()

    class Meta(ContactMethodCreatedSerializer.Meta):
        fields = [*ContactMethodCreatedSerializer.Meta.fields, "warnings"]


@extend_schema_serializer(component_name="SosContactMethodUpdated")
class ContactMethodUpdatedSerializer(ContactMethodSerializer):
    warnings = _warnings()

    class Meta(ContactMethodSerializer.Meta):
        fields = [*ContactMethodSerializer.Meta.fields, "warnings"]


@extend_schema_serializer(component_name="SosContactSaved")
class ContactSavedSerializer(ContactSerializer):
    warnings = _warnings()

    class Meta(ContactSerializer.Meta):
        fields = [*ContactSerializer.Meta.fields, "warnings"]


@extend_schema_serializer(component_name="SosAlertRaised")
class AlertRaisedSerializer(AlertDetailSerializer):
    replayed = serializers.BooleanField(read_only=True)
    deduplicated = serializers.BooleanField(read_only=True)
    warnings = _warnings()

    class Meta(AlertDetailSerializer.Meta):
        fields = [*AlertDetailSerializer.Meta.fields, "replayed", "deduplicated", "warnings"]


@extend_schema_serializer(component_name="SosMethodTest")
class MethodTestSerializer(AlertSerializer):
    """The test alert (as before) and the outcome of its one send."""

    ok = serializers.BooleanField(read_only=True)
    error = serializers.CharField(read_only=True, help_text="One line; empty when ok.")
    duration_ms = serializers.IntegerField(read_only=True)
    provider_message_id = serializers.CharField(read_only=True)
    delivery = serializers.IntegerField(read_only=True, help_text="The test's delivery row.")
    warnings = _warnings()

    class Meta(AlertSerializer.Meta):
        fields = [
            *AlertSerializer.Meta.fields,
            "ok",
            "error",
            "duration_ms",
            "provider_message_id",
            "delivery",
            "warnings",
        ]
