"""Status pages API: pages (CRUD), their incidents and updates, maintenance windows.

Operators write, viewers read (the portal's default permission). Thin views: the serializer
checks types, a service in status.py checks meaning and raises StatusInvalid (400
`validation_error` naming the field).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from modules.netprobe import status as services
from modules.netprobe.status_models import (
    Incident,
    IncidentUpdate,
    MaintenanceWindow,
    StatusPage,
    StatusPageGroup,
)
from modules.netprobe.status_serializers import (
    IncidentChangeSerializer,
    IncidentSerializer,
    IncidentUpdateRequestSerializer,
    IncidentUpdateSerializer,
    MaintenanceSerializer,
    StatusPageSerializer,
)
from modules.netprobe.status_snapshot import status_changed
from portal.ids import parse_id
from portal.schema import error_response

BAD_REQUEST = error_response("validation_error (details.fields names each bad field)")


def _incidents() -> QuerySet[Incident]:
    updates = IncidentUpdate.objects.select_related("by")
    return Incident.objects.prefetch_related(Prefetch("updates", queryset=updates))


class ByIdMixin:
    """The path id is read as every id of the API is (portal.ids): text no row can have as its
    id, "null,null" or past a bigint, is a 404, never a database error."""

    kwargs: dict[str, Any]

    def get_object(self) -> Any:
        if parse_id(str(self.kwargs.get("pk", ""))) is None:
            raise exceptions.NotFound()
        return super().get_object()  # type: ignore[misc]


def _crud_schema(serializer: type, *, create: bool = True) -> Any:
    """Per action, as MonitorViewSet documents itself: a class-wide `responses` would replace
    destroy's 204 too."""
    actions = {
        "update": extend_schema(responses={200: serializer, 400: BAD_REQUEST}),
        "partial_update": extend_schema(responses={200: serializer, 400: BAD_REQUEST}),
    }
    if create:
        actions["create"] = extend_schema(responses={201: serializer, 400: BAD_REQUEST})
    return extend_schema_view(**actions)


@_crud_schema(StatusPageSerializer)
class StatusPageViewSet(ByIdMixin, viewsets.ModelViewSet):
    """Status pages: chosen monitors in ordered groups, public at /status/<slug>/."""

    serializer_class = StatusPageSerializer

    def get_queryset(self) -> QuerySet[StatusPage]:
        groups = StatusPageGroup.objects.prefetch_related("items")
        return StatusPage.objects.prefetch_related(Prefetch("groups", queryset=groups))

    def perform_destroy(self, instance: StatusPage) -> None:
        instance.delete()
        status_changed()

    def perform_create(self, serializer: StatusPageSerializer) -> None:
        serializer.instance = services.status_page_save(
            user=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer: StatusPageSerializer) -> None:
        page = serializer.instance
        values = {
            "title": page.title,
            "slug": page.slug,
            "description": page.description,
            "public": page.public,
            **serializer.validated_data,
        }
        services.status_page_save(page=page, **values)
        serializer.instance = self.get_queryset().get(pk=page.pk)

    @extend_schema(
        summary="A page's incidents (GET) or open one with its first update (POST)",
        request=IncidentSerializer,
        responses={200: IncidentSerializer(many=True), 201: IncidentSerializer, 400: BAD_REQUEST},
    )
    @action(detail=True, methods=["get", "post"])
    def incidents(self, request: Request, pk: str | None = None) -> Response:
        page = self.get_object()
        if request.method == "GET":
            rows = self.paginate_queryset(_incidents().filter(page=page))
            return self.get_paginated_response(IncidentSerializer(rows, many=True).data)
        form = IncidentSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        incident = services.incident_create(page=page, user=request.user, **form.validated_data)
        body = IncidentSerializer(_incidents().get(pk=incident.pk)).data
        return Response(body, status=status.HTTP_201_CREATED)


@_crud_schema(IncidentSerializer, create=False)
class IncidentViewSet(
    ByIdMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Incidents of every page; their status moves by posting updates."""

    serializer_class = IncidentSerializer

    def get_queryset(self) -> QuerySet[Incident]:
        return _incidents()

    def get_serializer_class(self) -> Any:
        if self.action in ("update", "partial_update"):
            return IncidentChangeSerializer
        return IncidentSerializer

    def perform_destroy(self, instance: Incident) -> None:
        instance.delete()
        status_changed()

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        super().update(request, *args, **kwargs)
        status_changed()
        return Response(IncidentSerializer(self.get_queryset().get(pk=kwargs["pk"])).data)

    @extend_schema(
        summary="Post an update (investigating, identified, monitoring, resolved)",
        request=IncidentUpdateRequestSerializer,
        responses={201: IncidentUpdateSerializer, 400: BAD_REQUEST},
    )
    @action(detail=True, methods=["post"])
    def updates(self, request: Request, pk: str | None = None) -> Response:
        incident = self.get_object()
        form = IncidentUpdateRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        update = services.incident_update(
            incident=incident, user=request.user, **form.validated_data
        )
        return Response(IncidentUpdateSerializer(update).data, status=status.HTTP_201_CREATED)


@_crud_schema(MaintenanceSerializer)
class MaintenanceViewSet(ByIdMixin, viewsets.ModelViewSet):
    """Maintenance windows: one-off or recurring; their monitors' alerts are silenced."""

    serializer_class = MaintenanceSerializer

    def get_queryset(self) -> QuerySet[MaintenanceWindow]:
        return MaintenanceWindow.objects.prefetch_related("monitors", "pages")

    def perform_destroy(self, instance: MaintenanceWindow) -> None:
        instance.delete()
        status_changed()

    def perform_create(self, serializer: MaintenanceSerializer) -> None:
        serializer.instance = services.maintenance_save(
            user=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer: MaintenanceSerializer) -> None:
        serializer.instance = services.maintenance_save(
            window=serializer.instance, **serializer.validated_data
        )
