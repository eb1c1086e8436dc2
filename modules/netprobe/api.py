"""NetProbe API: probes (run one, history), batches, monitors (CRUD + history).

Thin views: validate with a serializer, call one service, answer with a serializer. Errors
are PortalErrors the portal's exception handler answers: a refused target (EgressForbidden) is
400 `target_forbidden`, an invalid monitor (MonitorInvalid) 400 `validation_error`. In a
batch, a refused target is that item's result (status failed, error.code forbidden) and the
other items still run; invalid items fail the whole batch with 400 `validation_error` before
anything runs, their index in details.fields.items.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from modules.netprobe import services
from modules.netprobe.models import Monitor, ProbeResult
from modules.netprobe.selectors import WINDOWS
from modules.netprobe.serializers import (
    BatchRequestSerializer,
    BatchResultSerializer,
    MonitorFilterSerializer,
    MonitorHistorySerializer,
    MonitorSerializer,
    ProbeFilterSerializer,
    ProbeRequestSerializer,
    ProbeResultSerializer,
    TransitionSerializer,
)
from modules.netprobe.vantages.measure import measurement_get
from modules.netprobe.vantages.serializers import (
    BatchMeasurementsSerializer,
    MeasurementSerializer,
)
from portal.schema import error_response

BAD_REQUEST = error_response(
    "validation_error (details.fields names each bad field) or target_forbidden "
    "(the egress policy refuses the target; no packet was sent)",
)
# `locations` left out or ["local"]: the answer is as it always was; otherwise a measurement.
PROBE_ANSWER = PolymorphicProxySerializer(
    component_name="ProbeAnswer",
    serializers=[ProbeResultSerializer, MeasurementSerializer],
    resource_type_field_name=None,
)
BATCH_ANSWER = PolymorphicProxySerializer(
    component_name="BatchAnswer",
    serializers=[BatchResultSerializer, BatchMeasurementsSerializer],
    resource_type_field_name=None,
)
LOCATIONS_DESCRIPTION = (
    ' With `locations` naming vantages (or several locations, or ["all"]) the probe runs at '
    'each at once and the answer is a measurement: {"measurement": <uuid>, "results": '
    '[{"location", "status", "result", "reason", "latency_ms"}]}, `status` '
    "`ok` (`result` has the shape of a single probe's answer) or `vantage_unavailable` (the "
    "vantage is down, slow past the deadline or refused the signature: `result` is null, "
    "`reason` says why; the other locations still answer). An unknown or disabled location: "
    "400 `validation_error` naming it in details.fields.locations."
)


class RootView(APIView):
    """NetProbe API root: links to its endpoints."""

    @extend_schema(
        responses=inline_serializer("NetprobeRoot", {"endpoints": serializers.DictField()})
    )
    def get(self, request: Request) -> Response:
        names = {
            "probes": "netprobe_api:probe-list",
            "batches": "netprobe_api:batch",
            "monitors": "netprobe_api:monitor-list",
            "vantages": "netprobe_api:vantage-list",
            "status-pages": "netprobe_api:status-page-list",
            "incidents": "netprobe_api:incident-list",
            "maintenance": "netprobe_api:maintenance-list",
        }
        return Response(
            {"endpoints": {k: request.build_absolute_uri(reverse(v)) for k, v in names.items()}}
        )


@extend_schema_view(
    list=extend_schema(
        summary="Probe history",
        parameters=[ProbeFilterSerializer],
        responses={200: ProbeResultSerializer(many=True), 400: BAD_REQUEST},
    ),
    retrieve=extend_schema(summary="One probe result"),
)
class ProbeViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ProbeResultSerializer

    def get_queryset(self) -> QuerySet[ProbeResult]:
        queryset = ProbeResult.objects.select_related("created_by")
        if self.action != "list":
            return queryset
        form = ProbeFilterSerializer(data=self.request.query_params)
        form.is_valid(raise_exception=True)
        f = form.validated_data
        lookups = {
            "kind": "kind",
            "status": "status",
            "target": "target",
            "search": "target__icontains",
            "since": "started_at__gte",
            "until": "started_at__lt",
            "monitor": "monitor_id",
        }
        return queryset.filter(**{lookups[k]: v for k, v in f.items()})

    @extend_schema(
        summary="Run one probe",
        description=(
            "Runs the probe now and answers 201 with its result (status ok, failed or timeout; "
            "error.code says where it failed). Invalid input: 400 `validation_error` with field "
            "details. A refused target: 400 `target_forbidden`; nothing is sent or stored."
            + LOCATIONS_DESCRIPTION
        ),
        request=ProbeRequestSerializer,
        responses={201: PROBE_ANSWER, 400: BAD_REQUEST},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        form = ProbeRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        spec, locations = form.validated_data["spec"], form.validated_data["locations"]
        if not form.validated_data["multi"]:  # the answer's shape follows the request
            row = services.probe_run(spec=spec, user=request.user)
            return Response(ProbeResultSerializer(row).data, status=status.HTTP_201_CREATED)
        measurement = services.probe_run(spec=spec, user=request.user, locations=locations)
        return Response(MeasurementSerializer(measurement).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="One measurement from several locations",
        description=(
            "A stored measurement in the shape `POST` answered it: every location asked, "
            "`vantage_unavailable` ones with their `reason` (`latency_ms` is not stored: null). "
            "404 `not_found` when nothing of it was stored (no location answered)."
        ),
        responses={200: MeasurementSerializer},
    )
    @action(
        detail=False,
        methods=["get"],
        url_path=r"measurements/(?P<measurement>[0-9a-fA-F-]{32,36})",
        url_name="measurement",
    )
    def measurement(self, request: Request, measurement: str) -> Response:
        try:
            found = measurement_get(uuid.UUID(measurement))
        except ValueError:
            found = None
        if found is None:
            raise NotFound("No measurement with this id.")
        return Response(MeasurementSerializer(found).data)


class BatchView(APIView):
    """Run up to 100 probes concurrently; answers when the slowest is done."""

    @extend_schema(
        summary="Run a batch of probes",
        description=(
            "Runs up to NETPROBE_BATCH_MAX (100) probes concurrently and answers 201 with every "
            "result, in the order of `items`. An invalid item fails the whole batch before "
            "anything runs: 400 `validation_error` with `details.fields.items.<index>`. A target "
            "the egress policy refuses does not: that item's result has status `failed` and "
            "error code `forbidden` (no packet was sent), and the other items run."
            " With `locations`, every item runs at every location at once and `results` holds "
            "one measurement per item (items x locations at most NETPROBE_BATCH_MAX)."
            + LOCATIONS_DESCRIPTION
        ),
        request=BatchRequestSerializer,
        responses={201: BATCH_ANSWER, 400: BAD_REQUEST},
    )
    def post(self, request: Request) -> Response:
        form = BatchRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        specs, locations = form.validated_data["specs"], form.validated_data["locations"]
        t0 = time.perf_counter()
        if form.validated_data["multi"]:  # the answer's shape follows the request
            found = services.probe_batch(items=specs, user=request.user, locations=locations)
            answer = {
                "count": len(found),
                "duration_ms": round((time.perf_counter() - t0) * 1000, 3),
                "results": MeasurementSerializer(found, many=True).data,
            }
            return Response(answer, status=status.HTTP_201_CREATED)
        rows = services.probe_batch(items=specs, user=request.user)
        body = {
            "count": len(rows),
            "duration_ms": round((time.perf_counter() - t0) * 1000, 3),
            "results": ProbeResultSerializer(rows, many=True).data,
        }
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(
        summary="Monitors",
        parameters=[MonitorFilterSerializer],
        responses={200: MonitorSerializer(many=True), 400: BAD_REQUEST},
    ),
    create=extend_schema(responses={201: MonitorSerializer, 400: BAD_REQUEST}),
    update=extend_schema(responses={200: MonitorSerializer, 400: BAD_REQUEST}),
    partial_update=extend_schema(responses={200: MonitorSerializer, 400: BAD_REQUEST}),
)
class MonitorViewSet(viewsets.ModelViewSet):
    """A probe spec run every interval_s seconds by `manage.py netprobe_run_monitors`."""

    serializer_class = MonitorSerializer

    def get_queryset(self) -> QuerySet[Monitor]:
        queryset = Monitor.objects.select_related("last_result").prefetch_related("location_states")
        if self.action != "list":
            return queryset
        form = MonitorFilterSerializer(data=self.request.query_params)
        form.is_valid(raise_exception=True)
        return queryset.filter(**{k: v for k, v in form.validated_data.items() if v})

    def perform_create(self, serializer: MonitorSerializer) -> None:
        serializer.instance = services.monitor_create(
            user=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer: MonitorSerializer) -> None:
        serializer.instance = services.monitor_update(
            monitor=serializer.instance, **serializer.validated_data
        )

    @extend_schema(
        summary="Uptime, response-time series and state transitions",
        parameters=[
            OpenApiParameter(
                "window", str, enum=list(WINDOWS), description="series window (default 24h)"
            )
        ],
        responses={200: MonitorHistorySerializer, 400: BAD_REQUEST},
    )
    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk: str | None = None) -> Response:
        monitor = self.get_object()
        window = request.query_params.get("window", "24h")
        if window not in WINDOWS:
            raise serializers.ValidationError({"window": [f"one of {', '.join(WINDOWS)}"]})
        now = timezone.now()
        transitions = monitor.transitions.all()[:100]
        body = {
            "monitor": MonitorSerializer(monitor).data,
            "uptime": {w: services.monitor_uptime(monitor, w, now=now).to_dict() for w in WINDOWS},
            "series": {
                "window": window,
                "points": [p.to_dict() for p in services.monitor_series(monitor, window, now=now)],
            },
            "transitions": TransitionSerializer(transitions, many=True).data,
        }
        return Response(body)

    @extend_schema(
        summary="Pause a monitor",
        description="Stops running it (enabled false, state paused); pausing twice is harmless.",
        request=None,
        responses={200: MonitorSerializer},
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        monitor = services.monitor_pause(monitor=self.get_object())
        return Response(MonitorSerializer(monitor).data)

    @extend_schema(
        summary="Resume a monitor",
        description="Runs it again from now, its state started afresh (unknown).",
        request=None,
        responses={200: MonitorSerializer},
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        monitor = services.monitor_resume(monitor=self.get_object())
        return Response(MonitorSerializer(monitor).data)
