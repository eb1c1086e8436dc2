"""SOS_Broadcast API: the root, the webhook schema, alerts and deliveries. Contacts, contact
methods and groups are in api_contacts.py.

Views validate with a serializer, call one service, and answer with a serializer. Workflow
errors (SosError, a PortalError) reach the portal's one exception handler untouched.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from modules.sos import services
from modules.sos.api_bodies import RAISE_200
from modules.sos.api_filters import id_filter, text_param
from modules.sos.models import Alert, AlertEvent, Delivery
from modules.sos.preflight import as_dicts, channel_warnings
from modules.sos.preflight_serializers import AlertRaisedSerializer
from modules.sos.selectors import with_counts
from modules.sos.serializers import (
    AlertCreateSerializer,
    AlertDetailSerializer,
    AlertEventSerializer,
    AlertSerializer,
    DeliverySerializer,
    RecipientSerializer,
)
from portal.schema import error_response


class RootView(APIView):
    """SOS Broadcast API root: links to its endpoints."""

    @extend_schema(responses=inline_serializer("SosRoot", {"endpoints": serializers.DictField()}))
    def get(self, request: Request) -> Response:
        names = {
            "alerts": "sos_api:alert-list",
            "deliveries": "sos_api:delivery-list",
            "contacts": "sos_api:contact-list",
            "contacts_import": "sos_api:contact-import-csv",
            "contact_methods": "sos_api:contactmethod-list",
            "groups": "sos_api:group-list",
            "escalation_policies": "sos_api:escalationpolicy-list",
            "integrations": "sos_api:integration-list",
            "events_v2_enqueue": "sos_api:events-v2-enqueue",
            "webhook_schema": "sos_api:webhook-schema",
        }
        return Response(
            {"endpoints": {k: request.build_absolute_uri(reverse(v)) for k, v in names.items()}}
        )


class WebhookSchemaView(APIView):
    """The JSON Schema of the webhook payload (headers and retry rules in its description)."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request) -> Response:
        import json

        from django.template.loader import get_template

        template = get_template("sos/webhook-schema.json")
        return Response(json.loads(template.template.source))  # type: ignore[attr-defined]


class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    def get_queryset(self) -> QuerySet[Alert]:
        queryset = with_counts(
            Alert.objects.select_related("raised_by", "escalate_to", "escalation_policy")
        )
        for field in ("status", "severity", "source", "dedup_key"):
            if value := text_param(self.request, field):
                queryset = queryset.filter(**{field: value})
        if self.action == "retrieve":
            queryset = queryset.prefetch_related(
                "groups", Prefetch("deliveries", queryset=Delivery.objects.order_by("id"))
            )
        else:
            queryset = queryset.prefetch_related("groups")
        return queryset.order_by("-created_at", "-id")

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return AlertDetailSerializer if self.action == "retrieve" else AlertSerializer

    @extend_schema(
        request=AlertCreateSerializer,
        responses={
            201: AlertRaisedSerializer,
            200: OpenApiResponse(
                RAISE_200,
                description="A replayed Idempotency-Key or a matched dedup_key (the alert), "
                "or the preview of `dry_run: true` (nothing raised).",
            ),
            422: error_response(
                "`no_recipients`: nobody to alert; `idempotency_key_reused`: the key was used "
                "for a different alert"
            ),
        },
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Same key (per user) returns the same alert with 200.",
            )
        ],
    )
    def create(self, request: Request) -> Response:
        """Raise an alert (201), or replay an Idempotency-Key / match a dedup_key (200)."""
        form = AlertCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        fields: dict[str, Any] = {
            "message": data["message"],
            "severity": data["severity"],
            "groups": data["groups"],
            "contacts": data["contacts"],
            "channels": data["channels"] or None,
            "location": data.get("location"),
            "require_ack": data.get("require_ack"),  # left out: None, not False
            "reminder_interval_min": data.get("reminder_interval_min"),
            "reminder_max": data.get("reminder_max"),
            "escalate_to": data.get("escalate_to") or None,
            "escalation_policy": data.get("escalation_policy") or None,
            "dedup_key": data.get("dedup_key") or None,
            "test": data["test"],
            "methods": [data["method"]] if data.get("method") else [],
            "raised_by": request.user,
            "source": "api",
        }
        if data["dry_run"]:
            preview = services.alert_preview(**fields)
            recipients = [r.as_dict() for r in preview.recipients]
            return Response(
                {
                    "dry_run": True,
                    "count": len(recipients),
                    "recipients": RecipientSerializer(recipients, many=True).data,
                    "warnings": as_dicts(channel_warnings({r["kind"] for r in recipients})),
                }
            )
        raised = services.alert_raise(
            **fields, idempotency_key=request.headers.get("Idempotency-Key")
        )
        fresh = with_counts(Alert.objects.filter(pk=raised.alert.pk))
        body = AlertDetailSerializer(
            fresh.prefetch_related("groups", "deliveries").get(),
            context=self.get_serializer_context(),
        ).data
        body["replayed"] = raised.replayed
        body["deduplicated"] = raised.deduplicated
        # The alert is raised either way; the warnings say which channels cannot carry it.
        body["warnings"] = as_dicts(channel_warnings({d["kind"] for d in body["deliveries"]}))
        code = status.HTTP_201_CREATED if raised.created else status.HTTP_200_OK
        return Response(body, status=code)

    @extend_schema(request=None, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel every delivery not yet sent; sends already in flight finish."""
        alert = self.get_object()
        services.alert_cancel(alert=alert, by=request.user)
        return Response(AlertSerializer(self.get_queryset().get(pk=alert.pk)).data)

    @extend_schema(request=None, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str | None = None) -> Response:
        """Close the alert because its cause is gone: stops sends and reminders."""
        alert = self.get_object()
        services.alert_resolve(alert=alert, by=request.user)
        return Response(AlertSerializer(self.get_queryset().get(pk=alert.pk)).data)

    @extend_schema(responses=AlertEventSerializer(many=True))
    @action(detail=True, methods=["get"])
    def events(self, request: Request, pk: str | None = None) -> Response:
        """The alert's audit trail, oldest first."""
        alert = self.get_object()
        events = AlertEvent.objects.filter(alert=alert).select_related("actor").order_by("id")
        page = self.paginate_queryset(events)
        return self.get_paginated_response(AlertEventSerializer(page, many=True).data)


class DeliveryViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = DeliverySerializer

    def get_queryset(self) -> QuerySet[Delivery]:
        queryset = Delivery.objects.order_by("-id")
        if "alert" in self.request.query_params:
            queryset = id_filter(queryset, "alert_id", text_param(self.request, "alert"))
        for field in ("state", "kind", "answer"):
            if value := text_param(self.request, field):
                queryset = queryset.filter(**{field: value})
        return queryset

    @extend_schema(request=None, responses=DeliverySerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Send a failed delivery again from attempt 1."""
        delivery = services.delivery_retry(delivery=self.get_object(), by=request.user)
        return Response(self.get_serializer(delivery).data)
