"""Escalation policies in the API: /api/sos/escalation-policies/ (viewers read, operators
write), and the escalation progress an alert's detail shows."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import serializers, viewsets

from modules.sos import escalation
from modules.sos.escalation import (
    MAX_DELAY_MIN,
    MAX_REPEAT,
    MAX_STEPS,
    StepSpec,
    step_problems,
)
from modules.sos.escalation_state import alert_steps
from modules.sos.models import (
    Alert,
    Contact,
    EscalationPolicy,
    EscalationStatus,
    EscalationStep,
    Group,
)
from portal.schema import error_response


@extend_schema_serializer(component_name="SosEscalationStep")
class EscalationStepSerializer(serializers.ModelSerializer):
    groups = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Group.objects.all(), required=False, help_text="Group ids."
    )
    contacts = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Contact.objects.all(), required=False, help_text="Contact ids."
    )
    delay_min = serializers.IntegerField(
        min_value=0,
        max_value=MAX_DELAY_MIN,
        required=False,
        default=0,
        help_text="Minutes after the previous step's last wave (step 1: after the raise); "
        "also the time between repeats.",
    )
    repeat = serializers.IntegerField(
        min_value=0,
        max_value=MAX_REPEAT,
        required=False,
        default=0,
        help_text="Further waves of this step to its recipients who have not answered.",
    )
    responses_needed = serializers.IntegerField(
        min_value=1, max_value=100_000, required=False, default=1
    )

    class Meta:
        model = EscalationStep
        fields = [
            "order",
            "groups",
            "contacts",
            "remind_recipients",
            "delay_min",
            "repeat",
            "stop_rule",
            "responses_needed",
        ]
        read_only_fields = ["order"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if problems := step_problems(spec(attrs)):
            raise serializers.ValidationError(problems)
        return attrs


def spec(attrs: dict[str, Any]) -> StepSpec:
    return StepSpec(
        groups=attrs.get("groups", []),
        contacts=attrs.get("contacts", []),
        remind_recipients=attrs.get("remind_recipients", False),
        delay_min=attrs.get("delay_min", 0),
        repeat=attrs.get("repeat", 0),
        stop_rule=attrs.get("stop_rule", "any_ack"),
        responses_needed=attrs.get("responses_needed", 1),
    )


@extend_schema_serializer(component_name="SosEscalationPolicy")
class EscalationPolicySerializer(serializers.ModelSerializer):
    steps = EscalationStepSerializer(
        many=True, help_text="In order: the first runs first. A write replaces them all."
    )

    class Meta:
        model = EscalationPolicy
        fields = ["id", "name", "description", "steps", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def validate_steps(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not value:
            raise serializers.ValidationError("A policy needs at least one step.")
        if len(value) > MAX_STEPS:
            raise serializers.ValidationError(f"At most {MAX_STEPS} steps.")
        return value


def _progress(alert: Alert) -> dict[str, Any] | None:
    if not alert.escalation_status:
        return None
    policy = alert.escalation_policy
    steps = alert_steps(alert)
    number = alert.escalation_step
    current = steps[number - 1] if 1 <= number <= len(steps) else None
    status = alert.escalation_status
    if status == EscalationStatus.ACTIVE and alert.status != Alert.Status.OPEN:
        status = "stopped"  # resolved or cancelled: the alert's status says which
    done = len(steps) if status == EscalationStatus.EXHAUSTED else max(0, number - 1)
    return {
        "policy": {"id": policy.pk, "name": policy.name} if policy else None,
        "status": status,
        "step": number or None,
        "steps": len(steps),
        "steps_done": done,
        "wave": alert.escalation_waves,
        "waves": 1 + current.repeat if current else None,
        "stop_rule": current.stop_rule if current else None,
        "next_at": alert.next_escalation_at,
    }


@extend_schema_serializer(component_name="SosEscalationProgress")
class EscalationProgressSerializer(serializers.Serializer):
    """Where the alert's escalation stands: its policy's steps, or (policy null) the two steps
    of its own reminders and escalate_to group; null when it has neither."""

    policy = serializers.DictField(
        allow_null=True, help_text="{id, name}; null: the alert's own reminders."
    )
    status = serializers.ChoiceField(
        choices=["active", "satisfied", "exhausted", "stopped"],
        help_text="active: a step is due at next_at; satisfied: a stop rule was met; "
        "exhausted: every step was sent; stopped: the alert was resolved or cancelled.",
    )
    step = serializers.IntegerField(allow_null=True, help_text="The current step (1-based).")
    steps = serializers.IntegerField()
    steps_done = serializers.IntegerField()
    wave = serializers.IntegerField(help_text="Waves of the current step sent so far.")
    waves = serializers.IntegerField(allow_null=True, help_text="1 + the step's repeat.")
    stop_rule = serializers.CharField(
        allow_null=True,
        help_text="any_ack, all_ack, responses; nothing_outstanding for the alert's own reminders.",
    )
    next_at = serializers.DateTimeField(allow_null=True)

    @staticmethod
    def of(alert: Alert) -> dict[str, Any] | None:
        progress = _progress(alert)
        return None if progress is None else EscalationProgressSerializer(progress).data


IN_USE = {409: error_response("`policy_in_use`: open alerts are escalating with it")}


@extend_schema_view(destroy=extend_schema(responses={204: None, **IN_USE}))
class EscalationPolicyViewSet(viewsets.ModelViewSet):
    """Escalation policies: ordered steps that notify more people while answers are missing."""

    serializer_class = EscalationPolicySerializer

    def get_queryset(self) -> QuerySet[EscalationPolicy]:
        return EscalationPolicy.objects.prefetch_related(
            "steps__groups", "steps__contacts"
        ).order_by("name")

    def perform_create(self, serializer: EscalationPolicySerializer) -> None:
        data = serializer.validated_data
        serializer.instance = escalation.escalation_policy_create(
            name=data["name"],
            description=data.get("description", ""),
            steps=[spec(step) for step in data["steps"]],
        )

    def perform_update(self, serializer: EscalationPolicySerializer) -> None:
        data = serializer.validated_data
        steps = data.get("steps")
        serializer.instance = escalation.escalation_policy_update(
            policy=serializer.instance,
            name=data.get("name"),
            description=data.get("description"),
            steps=None if steps is None else [spec(step) for step in steps],
        )
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def perform_destroy(self, instance: EscalationPolicy) -> None:
        escalation.escalation_policy_delete(policy=instance)
