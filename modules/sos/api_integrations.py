"""The Events API v2 intake: integrations (operators write, viewers read) and the PagerDuty-
compatible enqueue endpoint, where the routing key in the body is the only credential.

The enqueue endpoint answers in PagerDuty's words, not the portal's error envelope, because the
tools that post to it (Alertmanager, Uptime Kuma, PagerDuty client libraries) read those:
202 {"status": "success", ...}, 400 {"status": "invalid event", ...}, 429 when throttled.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from modules.sos import integrations
from modules.sos.integration_models import Integration
from modules.sos.integration_serializers import (
    EventAcceptedSerializer,
    EventErrorSerializer,
    EventSerializer,
    IntegrationSerializer,
    error_strings,
)
from portal import jsondepth

MAX_EVENT_BYTES = 512 * 1024  # PagerDuty's documented size limit (Alertmanager trims to 512000)


class IntegrationViewSet(viewsets.ModelViewSet):
    serializer_class = IntegrationSerializer

    def get_queryset(self) -> QuerySet[Integration]:
        return Integration.objects.select_related("created_by").prefetch_related("groups")

    def perform_create(self, serializer: IntegrationSerializer) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = integrations.integration_create(
            name=data["name"],
            groups=data.get("groups", []),
            escalation_policy=data.get("escalation_policy"),
            message_template=data.get("message_template"),
            severity_map=data.get("severity_map"),
            require_ack=data.get("require_ack", False),
            enabled=data.get("enabled", True),
            created_by=self.request.user,
        )

    def perform_update(self, serializer: IntegrationSerializer) -> None:
        serializer.instance = integrations.integration_update(
            integration=serializer.instance, **serializer.validated_data
        )

    @extend_schema(request=None, responses=IntegrationSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-key")
    def rotate_key(self, request: Request, pk: str | None = None) -> Response:
        """Replace the routing key; the old key is refused from now on."""
        integration = integrations.integration_rotate_key(integration=self.get_object())
        return Response(self.get_serializer(integration).data)


class RoutingKeyThrottle(SimpleRateThrottle):
    """SOS_EVENTS_RATE per routing key, like PagerDuty's limit per integration key."""

    scope = "sos_events"

    def get_rate(self) -> str:
        return settings.SOS_EVENTS_RATE

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": view.routing_key}


class RejectedKeyThrottle(SimpleRateThrottle):
    """SOS_EVENTS_RATE of refused events per client address: an unknown routing key has no
    budget of its own, so guessing keys is slowed down by where the guesses come from.

    Like RoutingKeyThrottle it counts in the cache: with the default per-process cache each
    process (or Lambda instance) counts on its own; CACHE_URL makes the limits shared."""

    scope = "sos_events_rejected"

    def get_rate(self) -> str:
        return settings.SOS_EVENTS_RATE

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def over(self, request: Any, view: Any) -> bool:
        """Whether the address already used up its refusals (nothing is counted)."""
        self.key = self.get_cache_key(request, view)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        self.history = [t for t in self.history if t > self.now - self.duration]
        return len(self.history) >= self.num_requests

    def count(self, request: Any, view: Any) -> None:
        if not self.over(request, view):
            self.throttle_success()


def _answer(
    code: int, status_text: str, message: str, errors: list[str], **headers: str
) -> Response:
    body = {"status": status_text, "message": message, "errors": errors}
    return Response(body, status=code, headers=headers or None)


def invalid(*errors: str) -> Response:
    return _answer(400, "invalid event", "Event object is invalid", list(errors))


def unrecognized(error: str) -> Response:
    return _answer(400, "Unrecognized object", "Event object format is unrecognized", [error])


PD_TRIGGER = {
    "payload": {
        "summary": "DISK at 99% on machine prod-datapipe03.example.com",
        "timestamp": "2015-07-17T08:42:58.315+0000",
        "severity": "critical",
        "source": "prod-datapipe03.example.com",
        "component": "mysql",
        "group": "prod-datapipe",
        "class": "disk",
        "custom_details": {"free space": "1%", "ping time": "1500ms", "load avg": 0.75},
    },
    "routing_key": "e93facc04764012d7bfb002500d5d1a6",
    "dedup_key": "srv01/mysql",
    "event_action": "trigger",
    "client": "Sample Monitoring Service",
    "client_url": "https://monitoring.service.com",
}


class EventsEnqueueView(APIView):
    """PagerDuty Events API v2-compatible intake: trigger, acknowledge or resolve an alert.

    Point Alertmanager's `pagerduty_configs` (`url:`), Uptime Kuma's PagerDuty notification
    ('Integration URL') or any Events API v2 client here, with an integration's routing key.
    The key is the credential: no login, no token. Triggers with the dedup_key of an open alert
    of the same integration are counted on it; after it is resolved a trigger opens a new one;
    acknowledge / resolve without an open alert are dropped (still 202).
    """

    authentication_classes: list[Any] = []
    permission_classes = [permissions.AllowAny]
    throttle_classes: list[Any] = []  # per routing key, once the key is read (below)
    routing_key = ""

    @extend_schema(
        operation_id="sos_events_v2_enqueue",
        request=EventSerializer,
        responses={
            202: EventAcceptedSerializer,
            400: OpenApiResponse(
                EventErrorSerializer,
                description="PagerDuty's 400: an unknown or disabled routing key, an invalid "
                "field, a body that is not a JSON object or is larger than 512 KB.",
            ),
            429: OpenApiResponse(
                EventErrorSerializer,
                description="More than SOS_EVENTS_RATE events for this routing key (Retry-After).",
            ),
        },
        examples=[
            OpenApiExample("PagerDuty's example event", value=PD_TRIGGER, request_only=True),
            OpenApiExample(
                "Processed",
                value={
                    "status": "success",
                    "message": "Event processed",
                    "dedup_key": "srv01/mysql",
                },
                response_only=True,
                status_codes=["202"],
            ),
            OpenApiExample(
                "Invalid",
                value={
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": ["Length of 'routing_key' is incorrect (should be 32 characters)"],
                },
                response_only=True,
                status_codes=["400"],
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        refusals = RejectedKeyThrottle()
        if refusals.over(request, self):
            return _answer(
                429,
                "throttle event",
                "Too many invalid events from this address. Please retry later.",
                [f"More than {settings.SOS_EVENTS_RATE} invalid events from this address"],
                **{"Retry-After": str(max(1, int(refusals.wait() or 1)))},
            )
        response = self._post(request)
        if response.status_code == 400:
            refusals.count(request, self)
        return response

    def _post(self, request: Request) -> Response:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_EVENT_BYTES:
            return invalid(f"The event is {length} bytes; the limit is {MAX_EVENT_BYTES} (512 KB)")
        # Content-Length is only a claim (a chunked body has none): the body read counts.
        if (length := len(request.body)) > MAX_EVENT_BYTES:
            return invalid(f"The event is {length} bytes; the limit is {MAX_EVENT_BYTES} (512 KB)")
        try:
            data = jsondepth.loads(request.body)
            # "\ud800" escapes decode to lone surrogates, which no database can store.
            json.dumps(data, ensure_ascii=False).encode()
        except ValueError:  # TooDeep and UnicodeError are ValueErrors
            return unrecognized("JSON parse error")
        if not isinstance(data, dict):
            return unrecognized("The event must be a JSON object")
        if isinstance(data.get("routing_key"), str) and data["routing_key"]:
            # Hashed: the key is whatever the client sent, and cache backends limit key text.
            self.routing_key = hashlib.sha256(data["routing_key"].encode()).hexdigest()[:32]
            throttle = RoutingKeyThrottle()
            if not throttle.allow_request(request, self):
                wait = max(1, int(throttle.wait() or 1))
                return _answer(
                    429,
                    "throttle event",
                    "Requests for this integration are arriving too quickly. Please retry later.",
                    [f"More than {settings.SOS_EVENTS_RATE} events for this routing key"],
                    **{"Retry-After": str(wait)},
                )
        form = EventSerializer(data=data)
        if not form.is_valid():
            return invalid(*error_strings(form.errors))
        try:
            outcome = integrations.event_enqueue(event=form.validated_data)
        except integrations.EventRejected as exc:
            return invalid(*exc.errors)
        body = {"status": "success", "message": "Event processed", "dedup_key": outcome.dedup_key}
        return Response(body, status=status.HTTP_202_ACCEPTED)
