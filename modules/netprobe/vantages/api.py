"""The vantage registry: /api/netprobe/vantages/. Operators write, viewers read (the portal's
default permission). Thin views over vantages/services.py; the secret is never answered."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from modules.netprobe import services
from modules.netprobe.models import Vantage
from modules.netprobe.vantages.serializers import VantageSerializer
from portal.schema import error_response

BAD_VANTAGE = error_response(
    "validation_error (details.fields names each bad field: a secret shorter than 32 bytes, "
    "a taken or reserved name, a URL that does not resolve) or target_forbidden (the hub's "
    "egress policy refuses the URL's address)"
)

IN_USE = error_response(
    "vantage_in_use: monitors name this vantage in their locations (details.monitors lists "
    "them); renaming or deleting it would leave them unknown at every round"
)


@extend_schema_view(
    create=extend_schema(
        summary="Register a vantage", responses={201: VantageSerializer, 400: BAD_VANTAGE}
    ),
    update=extend_schema(responses={200: VantageSerializer, 400: BAD_VANTAGE, 409: IN_USE}),
    partial_update=extend_schema(responses={200: VantageSerializer, 400: BAD_VANTAGE, 409: IN_USE}),
    destroy=extend_schema(responses={204: None, 409: IN_USE}),
)
class VantageViewSet(viewsets.ModelViewSet):
    """Remote copies of NetProbe (NETPROBE_ROLE=vantage) that probes can run from."""

    serializer_class = VantageSerializer

    def get_queryset(self) -> QuerySet[Vantage]:
        return Vantage.objects.all()

    def perform_create(self, serializer: VantageSerializer) -> None:
        serializer.instance = services.vantage_create(**serializer.validated_data)

    def perform_update(self, serializer: VantageSerializer) -> None:
        serializer.instance = services.vantage_update(
            vantage=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance: Vantage) -> None:
        services.vantage_delete(vantage=instance)

    @extend_schema(
        summary="Check a vantage now",
        description=(
            "Calls the vantage's signed health endpoint and stores the outcome: last_check_ok, "
            "last_check_latency_ms, last_check_error (one line, e.g. a 401 signature_invalid "
            "for a wrong secret or a clock more than 60 s off). Answers 200 either way."
        ),
        request=None,
        responses={200: VantageSerializer},
    )
    @action(detail=True, methods=["post"])
    def check(self, request: Request, pk: str | None = None) -> Response:
        vantage = services.vantage_check(vantage=self.get_object())
        return Response(VantageSerializer(vantage).data)
