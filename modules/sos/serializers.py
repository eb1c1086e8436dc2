from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from modules.sos.alert_page import alert_progress
from modules.sos.api_escalation import EscalationProgressSerializer
from modules.sos.models import (
    Alert,
    AlertEvent,
    Contact,
    ContactMethod,
    Delivery,
    EscalationPolicy,
    Group,
    Kind,
    Severity,
    masked_address,
    operator_address,
)
from modules.sos.selectors import alert_answers, alert_counts, alert_need_help, alert_resent
from portal.roles import is_operator
from portal.schema import optional_in_responses


def _is_operator(context: dict[str, Any]) -> bool:
    request = context.get("request")
    return bool(request and is_operator(request.user))


def shown_address(context: dict[str, Any], kind: str, address: str) -> str:
    """Viewers see where an address goes; operators all but Apprise URLs (admin only)."""
    if _is_operator(context):
        return operator_address(kind, address)
    return masked_address(kind, address)


@extend_schema_serializer(component_name="SosContactMethod")
class ContactMethodSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContactMethod
        fields = [
            "id",
            "contact",
            "kind",
            "address",
            "label",
            "is_enabled",
            "last_error",
            "last_error_at",
            "last_success_at",
            "opted_out_at",
            "created_at",
        ]
        read_only_fields = [
            "last_error",
            "last_error_at",
            "last_success_at",
            "opted_out_at",  # set by an SMS "STOP" from the number, cleared by "START"
            "created_at",
        ]
        # Uniqueness is checked by the service after the address is normalised.
        validators: list[Any] = []

    def to_representation(self, instance: ContactMethod) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["address"] = shown_address(self.context, instance.kind, instance.address)
        return data


@extend_schema_serializer(component_name="SosContactMethodCreated")
class ContactMethodCreatedSerializer(ContactMethodSerializer):
    """The create answer also carries the signing secret of a webhook, once."""

    secret = serializers.CharField(read_only=True)

    class Meta(ContactMethodSerializer.Meta):
        fields = [*ContactMethodSerializer.Meta.fields, "secret"]

    def to_representation(self, instance: ContactMethod) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not _is_operator(self.context):
            data.pop("secret", None)  # only operators may create or rotate; never a viewer
        return data


# Context key: ids of the contact methods the current request created. Their webhook signing
# secrets are shown in that one answer, as POST /contact-methods/ does.
CREATED_METHOD_IDS = "created_method_ids"


optional_in_responses("SosContactMethodCreated", "secret")
optional_in_responses("SosContactMethodOfContact", "secret")


@extend_schema_serializer(component_name="SosContactMethodOfContact")
class ContactMethodOfContactSerializer(ContactMethodSerializer):
    secret = serializers.CharField(
        read_only=True,
        required=False,
        help_text="Signing secret of a webhook, only in the answer that created it (operators).",
    )

    class Meta(ContactMethodSerializer.Meta):
        fields = [*ContactMethodSerializer.Meta.fields, "secret"]

    def to_representation(self, instance: ContactMethod) -> dict[str, Any]:
        data = super().to_representation(instance)
        created = self.context.get(CREATED_METHOD_IDS, ())
        if not (
            instance.kind == Kind.WEBHOOK and instance.pk in created and _is_operator(self.context)
        ):
            data.pop("secret", None)
        return data


@extend_schema_serializer(component_name="SosNewMethod")
class NewMethodSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices)
    address = serializers.CharField(max_length=2000)
    label = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


@extend_schema_serializer(component_name="SosContact")
class ContactSerializer(serializers.ModelSerializer):
    methods = ContactMethodOfContactSerializer(many=True, read_only=True)
    new_methods = NewMethodSerializer(
        many=True, write_only=True, required=False, source="methods_to_add"
    )
    groups = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Group.objects.all(), required=False
    )

    class Meta:
        model = Contact
        fields = [
            "id",
            "name",
            "notes",
            "is_active",
            "groups",
            "methods",
            "new_methods",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]


@extend_schema_serializer(component_name="SosGroup")
class GroupSerializer(serializers.ModelSerializer):
    members = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Contact.objects.all(), required=False
    )
    member_count = serializers.SerializerMethodField()
    escalation_policy = serializers.PrimaryKeyRelatedField(
        queryset=EscalationPolicy.objects.all(),
        required=False,
        allow_null=True,
        help_text="Policy id that alerts to this group follow when they name none.",
    )

    class Meta:
        model = Group
        fields = [
            "id",
            "name",
            "description",
            "members",
            "member_count",
            "escalation_policy",
            "created_at",
        ]
        read_only_fields = ["created_at"]

    def get_member_count(self, group: Group) -> int:
        return len(group.members.all())


@extend_schema_serializer(component_name="SosCsvImport")
class CsvImportSerializer(serializers.Serializer):
    file = serializers.FileField(required=False)
    csv = serializers.CharField(required=False, allow_blank=False, trim_whitespace=False)
    create_groups = serializers.BooleanField(required=False, default=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("file") and not attrs.get("csv"):
            raise serializers.ValidationError("Send the CSV as a 'file' upload or as 'csv' text.")
        return attrs


@extend_schema_serializer(component_name="SosImportReport")
class ImportReportSerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    methods_added = serializers.IntegerField()
    groups_created = serializers.IntegerField()


@extend_schema_serializer(component_name="SosLocation")
class LocationSerializer(serializers.Serializer):
    lat = serializers.FloatField(min_value=-90, max_value=90)
    lon = serializers.FloatField(min_value=-180, max_value=180)
    accuracy_m = serializers.FloatField(min_value=0, required=False, allow_null=True)


@extend_schema_serializer(component_name="SosAlertCreate")
class AlertCreateSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=2000)
    severity = serializers.ChoiceField(choices=Severity.choices, default=Severity.CRITICAL)
    groups = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        default=list,
        help_text="Group ids or names.",
    )
    contacts = serializers.ListField(
        child=serializers.CharField(max_length=150),
        required=False,
        default=list,
        help_text="Contact ids or names.",
    )
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Kind.choices),
        required=False,
        default=list,
        help_text="Only these channels; empty: all.",
    )
    location = LocationSerializer(required=False, allow_null=True)
    # default=None also for form bodies: DRF would read a missing checkbox there as False.
    require_ack = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Ask for answers and send reminders. Left out: the policy of the alert's "
        "lowest-id group that has one applies (not to `info`), and asks for answers. `false`: "
        "no answers asked, no group's policy followed (with `escalation_policy`: 400).",
    )
    reminder_interval_min = serializers.IntegerField(min_value=1, max_value=1440, required=False)
    reminder_max = serializers.IntegerField(min_value=0, max_value=50, required=False)
    escalate_to = serializers.CharField(max_length=100, required=False, allow_blank=True)
    escalation_policy = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="Escalation policy id or name; replaces reminders and escalate_to. "
        "Without it, the policy of the alert's lowest-id group that has one.",
    )
    dedup_key = serializers.CharField(max_length=200, required=False, allow_blank=True)
    test = serializers.BooleanField(required=False, default=False)
    method = serializers.IntegerField(
        required=False, help_text="With test: the contact method to send the test to."
    )
    dry_run = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("test") and not attrs.get("method"):
            raise serializers.ValidationError({"method": ["A test alert needs a contact method."]})
        if not attrs.get("test") and not (attrs.get("groups") or attrs.get("contacts")):
            raise serializers.ValidationError({"groups": ["Name at least one group or contact."]})
        return attrs


@extend_schema_serializer(component_name="SosDelivery")
class DeliverySerializer(serializers.ModelSerializer):
    # Declared: read_only_fields would drop allow_blank, and "" (no answer yet) is an answer.
    answer = serializers.ChoiceField(
        choices=Delivery.Answer.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Delivery
        fields = [
            "id",
            "alert",
            "contact",
            "contact_name",
            "method",
            "kind",
            "address",
            "state",
            "round",
            "escalation",
            "step",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "sent_at",
            "provider_message_id",
            "last_error",
            "answer",
            "acknowledged_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Delivery) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["address"] = shown_address(self.context, instance.kind, instance.address)
        return data


@extend_schema_serializer(component_name="SosAlertEvent")
class AlertEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", default=None, read_only=True)

    class Meta:
        model = AlertEvent
        fields = ["id", "kind", "delivery", "actor", "message", "data", "created_at"]
        read_only_fields = fields


@extend_schema_serializer(component_name="SosAlertProgress")
class AlertProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    done = serializers.IntegerField(help_text="Deliveries no longer going out.")
    percent = serializers.IntegerField(
        help_text="Recipients reached (sent or answered), rounded down: not 100 with failures."
    )
    finished = serializers.BooleanField(help_text="Nothing is going out any more.")
    reached = serializers.IntegerField()
    failed = serializers.IntegerField()


@extend_schema_serializer(component_name="SosAlert")
class AlertSerializer(serializers.ModelSerializer):
    location = serializers.SerializerMethodField()
    groups = serializers.SlugRelatedField(many=True, read_only=True, slug_field="name")
    raised_by = serializers.CharField(source="raised_by.username", default=None, read_only=True)
    escalate_to = serializers.CharField(
        source="escalate_to.name", default=None, read_only=True, allow_null=True
    )
    escalation_policy = serializers.CharField(
        source="escalation_policy.name", default=None, read_only=True, allow_null=True
    )
    counts = serializers.SerializerMethodField()
    answers = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = [
            "id",
            "message",
            "severity",
            "status",
            "location",
            "channels",
            "groups",
            "is_test",
            "source",
            "raised_by",
            "dedup_key",
            "dedup_count",
            "require_ack",
            "reminder_interval_min",
            "reminder_max",
            "reminders_sent",
            "next_reminder_at",
            "escalate_to",
            "escalated_at",
            "escalation_policy",
            "next_escalation_at",
            "created_at",
            "closed_at",
            "counts",
            "answers",
            "progress",
        ]
        read_only_fields = fields

    def get_location(self, alert: Alert) -> dict[str, float | None] | None:
        if not alert.has_location:
            return None
        return {"lat": alert.latitude, "lon": alert.longitude, "accuracy_m": alert.accuracy_m}

    def get_counts(self, alert: Alert) -> dict[str, int]:
        return alert_counts(alert)

    def get_answers(self, alert: Alert) -> dict[str, int]:
        return alert_answers(alert)

    @extend_schema_field(AlertProgressSerializer)
    def get_progress(self, alert: Alert) -> dict[str, Any]:
        return alert_progress(alert_counts(alert), alert_need_help(alert), alert_resent(alert))


@extend_schema_serializer(component_name="SosAlertDetail")
class AlertDetailSerializer(AlertSerializer):
    deliveries = DeliverySerializer(many=True, read_only=True)
    escalation = serializers.SerializerMethodField()

    class Meta(AlertSerializer.Meta):
        fields = [*AlertSerializer.Meta.fields, "deliveries", "escalation"]
        read_only_fields = fields

    @extend_schema_field(EscalationProgressSerializer(allow_null=True))
    def get_escalation(self, alert: Alert) -> dict[str, Any] | None:
        return EscalationProgressSerializer.of(alert)


@extend_schema_serializer(component_name="SosRecipient")
class RecipientSerializer(serializers.Serializer):
    contact = serializers.IntegerField()
    contact_name = serializers.CharField()
    method = serializers.IntegerField()
    kind = serializers.CharField()
    address = serializers.CharField()
