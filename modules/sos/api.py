"""SOS_Broadcast API: contacts, contact methods, groups (with CSV import), alerts, deliveries.

Views validate with a serializer, call one service, and answer with a serializer. Workflow
errors (SosError, a PortalError) reach the portal's one exception handler untouched.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model, Prefetch, QuerySet
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, parsers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from modules.sos import services
from modules.sos.api_bodies import RAISE_200, method_test_body, with_warnings
from modules.sos.models import (
    Alert,
    AlertEvent,
    Contact,
    ContactMethod,
    Delivery,
    Group,
    new_secret,
)
from modules.sos.preflight import as_dicts, channel_warnings
from modules.sos.preflight_serializers import (
    AlertRaisedSerializer,
    ContactMethodSavedSerializer,
    ContactMethodUpdatedSerializer,
    ContactSavedSerializer,
    MethodTestSerializer,
)
from modules.sos.selectors import with_counts
from modules.sos.serializers import (
    CREATED_METHOD_IDS,
    AlertCreateSerializer,
    AlertDetailSerializer,
    AlertEventSerializer,
    AlertSerializer,
    ContactMethodCreatedSerializer,
    ContactMethodSerializer,
    ContactSerializer,
    CsvImportSerializer,
    DeliverySerializer,
    GroupSerializer,
    ImportReportSerializer,
    RecipientSerializer,
)
from portal.errors import PortalError
from portal.ids import parse_id
from portal.schema import error_response


def text_param(request: Request, name: str) -> str:
    """A query-string filter; a NUL byte (which PostgreSQL cannot compare) is a 400."""
    value = request.query_params.get(name, "")
    if "\x00" in value:
        raise PortalError(
            f"The {name!r} filter contains a NUL byte.",
            code="validation_error",
            status=400,
            details={"field": name},
        )
    return value


def id_filter[M: Model](queryset: QuerySet[M], field: str, value: str) -> QuerySet[M]:
    """Filter on an id from the query string; text no row id can be finds nothing."""
    pk = parse_id(value)
    return queryset.filter(**{field: pk}) if pk is not None else queryset.none()


class CsvTextParser(parsers.BaseParser):
    media_type = "text/csv"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return {"csv": stream.read().decode("utf-8-sig", errors="replace")}


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


@extend_schema_view(
    create=extend_schema(responses={201: ContactSavedSerializer}),
    update=extend_schema(responses=ContactSavedSerializer),
    partial_update=extend_schema(responses=ContactSavedSerializer),
)
class ContactViewSet(viewsets.ModelViewSet):
    serializer_class = ContactSerializer
    parser_classes = [*api_settings.DEFAULT_PARSER_CLASSES, CsvTextParser]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return with_warnings(super().create(request, *args, **kwargs))

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return with_warnings(super().update(request, *args, **kwargs))

    def get_queryset(self) -> QuerySet[Contact]:
        queryset = Contact.objects.prefetch_related("methods", "groups").order_by("name")
        if q := text_param(self.request, "q"):
            queryset = queryset.filter(name__icontains=q)
        if group := text_param(self.request, "group"):
            if group.strip().isdecimal():
                queryset = id_filter(queryset, "groups__id", group)
            else:
                queryset = queryset.filter(groups__name=group)
        return queryset

    def perform_create(self, serializer: ContactSerializer) -> None:
        data = dict(serializer.validated_data)
        contact = services.contact_create(
            name=data["name"],
            notes=data.get("notes", ""),
            is_active=data.get("is_active", True),
            methods=data.get("methods_to_add", []),
            groups=data.get("groups", []),
            allow_apprise=self.request.user.is_staff,
        )
        serializer.context[CREATED_METHOD_IDS] = set(contact.methods.values_list("id", flat=True))
        serializer.instance = contact

    def perform_update(self, serializer: ContactSerializer) -> None:
        data = serializer.validated_data
        changes = {f: data[f] for f in ("name", "notes", "is_active", "groups") if f in data}
        before = set(serializer.instance.methods.values_list("id", flat=True))
        contact = services.contact_update(
            contact=serializer.instance,
            methods=data.get("methods_to_add", []),
            allow_apprise=self.request.user.is_staff,
            **changes,
        )
        after = set(contact.methods.values_list("id", flat=True))
        serializer.context[CREATED_METHOD_IDS] = after - before
        serializer.instance = contact

    @extend_schema(request=CsvImportSerializer, responses=ImportReportSerializer)
    @action(detail=False, methods=["post"], url_path="import", url_name="import-csv")
    def import_csv(self, request: Request) -> Response:
        """Import contacts from CSV: columns name, email, phone, webhook, groups, notes."""
        form = CsvImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data.get("file")
        data = upload.read() if upload else form.validated_data["csv"]
        report = services.contact_import_csv(
            data=data,
            create_groups=form.validated_data["create_groups"],
        )
        return Response(ImportReportSerializer(report).data, status=status.HTTP_200_OK)


@extend_schema_view(
    create=extend_schema(responses={201: ContactMethodSavedSerializer}),
    update=extend_schema(responses=ContactMethodUpdatedSerializer),
    partial_update=extend_schema(responses=ContactMethodUpdatedSerializer),
)
class ContactMethodViewSet(viewsets.ModelViewSet):
    serializer_class = ContactMethodSerializer
    queryset = ContactMethod.objects.select_related("contact")

    def get_queryset(self) -> QuerySet[ContactMethod]:
        queryset = super().get_queryset()
        if contact := text_param(self.request, "contact"):
            queryset = id_filter(queryset, "contact_id", contact)
        return queryset

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        method = services.contact_method_add(
            contact=data["contact"],
            kind=data["kind"],
            address=data["address"],
            label=data.get("label", ""),
            is_enabled=data.get("is_enabled", True),
            allow_apprise=request.user.is_staff,
        )
        body = ContactMethodCreatedSerializer(method, context=self.get_serializer_context()).data
        body["warnings"] = as_dicts(channel_warnings([method.kind]))
        return Response(body, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().update(request, *args, **kwargs)
        response.data["warnings"] = as_dicts(channel_warnings([response.data["kind"]]))
        return response

    def perform_update(self, serializer: ContactMethodSerializer) -> None:
        serializer.instance = services.contact_method_update(
            method=serializer.instance,
            allow_apprise=self.request.user.is_staff,
            **serializer.validated_data,
        )

    @extend_schema(
        request=None,
        responses={
            201: MethodTestSerializer,
            409: error_response("`recipient_opted_out`: the number texted STOP"),
            503: error_response(
                "`channel_busy` (with Retry-After): the channel's rate budget is taken by an "
                "alert going out; nothing was sent"
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        """Send one TEST message to this contact method now and answer with its outcome
        (`ok`, `error`, `duration_ms`, `provider_message_id`) beside the test alert that
        records it. 409 `recipient_opted_out` for a number that texted STOP; 503 `channel_busy`
        when the channel's rate budget stays busy for a few seconds (nothing sent). `ok` is
        false for an email kept in this process (`email_not_delivered` warning)."""
        result = services.contact_method_test(
            method=self.get_object(), by=request.user, source="api"
        )
        return Response(method_test_body(result), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ContactMethodCreatedSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        """Replace the webhook signing secret; the answer carries the new one."""
        method = services.contact_method_update(
            method=self.get_object(),
            secret=new_secret(),
        )
        return Response(ContactMethodCreatedSerializer(method, context={"request": request}).data)


class GroupViewSet(viewsets.ModelViewSet):
    serializer_class = GroupSerializer
    queryset = Group.objects.prefetch_related("members").order_by("name")

    def perform_create(self, serializer: GroupSerializer) -> None:
        data = serializer.validated_data
        serializer.instance = services.group_create(
            name=data["name"],
            description=data.get("description", ""),
            members=data.get("members", []),
        )
        if "escalation_policy" in data:
            services.group_set_escalation_policy(
                group=serializer.instance, policy=data["escalation_policy"]
            )

    def perform_update(self, serializer: GroupSerializer) -> None:
        data = serializer.validated_data
        changes = {f: data[f] for f in ("name", "description", "members") if f in data}
        serializer.instance = services.group_update(group=serializer.instance, **changes)
        if "escalation_policy" in data:
            services.group_set_escalation_policy(
                group=serializer.instance, policy=data["escalation_policy"]
            )


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
            "require_ack": data["require_ack"],
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
