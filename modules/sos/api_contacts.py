"""SOS_Broadcast API of the people alerts reach: contacts (with CSV import), their contact
methods (with a test send and a webhook secret rotation) and groups.

Views validate with a serializer, call one service, and answer with a serializer.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import parsers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from modules.sos import services
from modules.sos.api_bodies import method_test_body, with_warnings
from modules.sos.api_filters import id_filter, text_param
from modules.sos.models import Contact, ContactMethod, Group, new_secret
from modules.sos.preflight import as_dicts, channel_warnings
from modules.sos.preflight_serializers import (
    ContactMethodSavedSerializer,
    ContactMethodUpdatedSerializer,
    ContactSavedSerializer,
    MethodTestSerializer,
)
from modules.sos.serializers import (
    CREATED_METHOD_IDS,
    ContactMethodCreatedSerializer,
    ContactMethodSerializer,
    ContactSerializer,
    CsvImportSerializer,
    GroupSerializer,
    ImportReportSerializer,
)
from portal.schema import error_response


class CsvTextParser(parsers.BaseParser):
    media_type = "text/csv"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return {"csv": stream.read().decode("utf-8-sig", errors="replace")}


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
