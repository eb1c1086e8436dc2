"""A URL conf with one view per API error, to prove the envelope for each status."""

from __future__ import annotations

from django.urls import path
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from portal.egress import EgressPolicy
from portal.errors import PortalError
from portal.roles import IsOperator
from portal.urls import urlpatterns as portal_urlpatterns


class ItemSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=10)
    count = serializers.IntegerField(min_value=1)


class Validate(APIView):
    def post(self, request: Request) -> Response:
        serializer = ItemSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.data, status=201)


class OperatorOnly(APIView):
    permission_classes = [IsOperator]

    def post(self, request: Request) -> Response:
        return Response({"ok": True})


class UnprocessableView(APIView):
    def get(self, request: Request) -> Response:
        raise PortalError("No face in image_b.", code="no_face", status=422, details={"image": "b"})


class Crash(APIView):
    def get(self, request: Request) -> Response:
        raise RuntimeError("secret internals: password=hunter2")


class OncePerMinute(UserRateThrottle):
    rate = "1/min"


class Throttled(APIView):
    throttle_classes = [OncePerMinute]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class Forbidden(APIView):
    def get(self, request: Request) -> Response:
        EgressPolicy().resolve("127.0.0.1", 80)
        return Response({"ok": True})


urlpatterns = [
    path("api/test/validate/", Validate.as_view()),
    path("api/test/operator/", OperatorOnly.as_view()),
    path("api/test/unprocessable/", UnprocessableView.as_view()),
    path("api/test/crash/", Crash.as_view()),
    path("api/test/throttled/", Throttled.as_view()),
    path("api/test/forbidden/", Forbidden.as_view()),
    *portal_urlpatterns,
]
handler400 = "portal.error_pages.bad_request"
handler403 = "portal.error_pages.permission_denied"
handler404 = "portal.error_pages.not_found"
handler500 = "portal.error_pages.server_error"
