"""GET /api/sos/alerts/<id>/roll-call/: the alert's roll-call as JSON, or CSV with
`?format=csv` (or `Accept: text/csv`). The same rows as the roll-call page, everyone included."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import renderers, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from modules.sos.answers import STATUS_ORDER, AckKind, Status
from modules.sos.models import Alert, Kind
from modules.sos.roll_call import (
    RollCall,
    alert_roll_call,
    roll_call_csv,
    roll_call_filename,
    roll_call_filters,
)

# (value, name) pairs: settings' ENUM_NAME_OVERRIDES names these SosRollCallStatusEnum.
STATUS_CHOICES = [(s.value, s.name) for s in Status]


class RollCallCsvRenderer(renderers.BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = None  # the body is bytes already: UTF-8 with a byte-order mark

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return data if isinstance(data, bytes) else b""


@extend_schema_serializer(component_name="SosRollCallLocation")
class RollCallLocationSerializer(serializers.Serializer):
    lat = serializers.FloatField()
    lon = serializers.FloatField()
    accuracy_m = serializers.FloatField(allow_null=True)
    map_url = serializers.URLField()


@extend_schema_serializer(component_name="SosRollCallDelivery")
class RollCallDeliverySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices)
    state = serializers.CharField()


@extend_schema_serializer(component_name="SosRollCallPerson")
class RollCallPersonSerializer(serializers.Serializer):
    contact = serializers.IntegerField(source="contact_id", allow_null=True)
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    status_label = serializers.CharField()
    answered_at = serializers.DateTimeField(allow_null=True)
    answered_after_close = serializers.BooleanField(source="late")
    channel = serializers.CharField(help_text="The delivery answered: email, sms...; '' if none.")
    via = serializers.CharField(help_text="How the answer came: link, sms or email; '' if none.")
    note = serializers.CharField(allow_blank=True)
    location = serializers.SerializerMethodField()
    groups = serializers.ListField(child=serializers.CharField())
    deliveries = RollCallDeliverySerializer(many=True)

    @extend_schema_field(RollCallLocationSerializer(allow_null=True))
    def get_location(self, person: Any) -> dict[str, Any] | None:
        if not person.has_location:
            return None
        return RollCallLocationSerializer(
            {
                "lat": person.latitude,
                "lon": person.longitude,
                "accuracy_m": person.accuracy_m,
                "map_url": person.map_url,
            }
        ).data

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not instance.answered_at:
            data["channel"] = data["via"] = ""
        return data


@extend_schema_serializer(component_name="SosRollCallCount")
class RollCallCountSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    label = serializers.CharField()
    count = serializers.IntegerField()


@extend_schema_serializer(component_name="SosRollCall")
class RollCallSerializer(serializers.Serializer):
    alert = serializers.IntegerField(source="alert.pk")
    alert_status = serializers.ChoiceField(source="alert.status", choices=Alert.Status.choices)
    closed_at = serializers.DateTimeField(source="alert.closed_at", allow_null=True)
    ack_kind = serializers.ChoiceField(
        source="kind",
        choices=[(k.value, k.name) for k in AckKind],
        help_text="safety: safe / need help; incident (monitors, integrations): on it, can't help.",
    )
    live = serializers.BooleanField(
        help_text="Answers can still come in (the alert is open, or closed with links still valid)."
    )
    total = serializers.IntegerField(help_text="People, before the filters.")
    counts = RollCallCountSerializer(many=True, help_text="Over everyone, whatever the filters.")
    need_help = RollCallPersonSerializer(many=True, help_text="Everyone whose answer is need_help.")
    people = RollCallPersonSerializer(many=True, help_text="After the filters, urgent first.")


def _filters(request: Request) -> dict[str, Any]:
    params = request.query_params
    return roll_call_filters(
        status=params.get("status", ""), group=params.get("group", ""), q=params.get("q", "")
    )


class RollCallView(APIView):
    renderer_classes = [renderers.JSONRenderer, RollCallCsvRenderer]

    def handle_exception(self, exc: Exception) -> Response:
        # Errors are the JSON envelope even when a CSV file was asked for.
        self.request.accepted_renderer = renderers.JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return super().handle_exception(exc)

    @extend_schema(
        operation_id="sos_alerts_roll_call",
        parameters=[
            OpenApiParameter("status", str, enum=STATUS_ORDER, description="Only this status."),
            OpenApiParameter("group", str, description="Only members of this group (id or name)."),
            OpenApiParameter("q", str, description="Text in the person's name or note."),
            OpenApiParameter(
                "format",
                str,
                enum=["json", "csv"],
                description="csv: a spreadsheet-safe CSV file (UTF-8 with BOM) of `people`.",
            ),
        ],
        responses={
            (200, "application/json"): RollCallSerializer,
            (200, "text/csv"): OpenApiTypes.STR,
        },
    )
    def get(self, request: Request, pk: int) -> Response:
        """Who is safe, who needs help, who has not answered: one row per person (a contact's
        several channels are one person, with their latest answer)."""
        filters = _filters(request)
        alert = get_object_or_404(Alert, pk=pk)
        roll_call: RollCall = alert_roll_call(alert=alert, **filters)
        if request.accepted_renderer.format == "csv":
            return Response(
                roll_call_csv(roll_call),
                headers={
                    "Content-Disposition": f'attachment; filename="{roll_call_filename(roll_call)}"'
                },
            )
        return Response(RollCallSerializer(roll_call).data)
