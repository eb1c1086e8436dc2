"""API plumbing shared by every module: the error envelope, the token and me views, the API root.

Every error leaves the API as {"error": {"code", "message", "details"}} with the right status.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import drf_spectacular.authentication
from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import NoReverseMatch, reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView, set_rollback

from portal import login_limits
from portal.errors import DatabaseUnavailable, PayloadTooLarge, PortalError, envelope
from portal.outage import is_unavailable
from portal.roles import IsViewer, role_name

logger = logging.getLogger("portal.api")


# DRF's own codes are mostly good; these are renamed so clients can switch on one word.
CODES = {
    exceptions.ValidationError: "validation_error",
    exceptions.ParseError: "parse_error",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def _message(detail: Any) -> str:
    if isinstance(detail, (list, tuple)) and detail:
        return _message(detail[0])
    if isinstance(detail, dict) and detail:
        return _message(next(iter(detail.values())))
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(
            "The request body is larger than this server accepts.",
            details={"max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
        )
    if is_unavailable(exc):
        logger.warning("API request failed: database unavailable: %s", exc)
        exc = DatabaseUnavailable()
    if isinstance(exc, PortalError):
        set_rollback()
        retry = exc.details.get("retry_after_s")
        return Response(
            envelope(exc.code, exc.message, exc.details),
            status=exc.status,
            headers={"Retry-After": str(retry)} if retry is not None else None,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)

    if not isinstance(exc, exceptions.APIException):
        logger.exception("Unhandled API error", exc_info=exc)
        set_rollback()
        return Response(
            envelope("server_error", "Something went wrong on our side; it has been logged."),
            status=500,
        )

    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]

    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = envelope("validation_error", "The request has invalid fields.", {"fields": detail})
    else:
        code = next((c for cls, c in CODES.items() if type(exc) is cls), None)
        if code is None:
            codes = exc.get_codes()
            code = codes if isinstance(codes, str) else exc.default_code
        details: dict[str, Any] = {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            details["retry_after_s"] = int(exc.wait)
        body = envelope(code, _message(exc.detail), details)

    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)


def json_error(request: HttpRequest, status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(envelope(code, message), status=status_code)


class SessionScheme(drf_spectacular.authentication.SessionScheme):
    """The schema documents portal.authentication.SessionAuthentication as DRF's session login."""

    target_class = "portal.authentication.SessionAuthentication"


class ObtainTokenView(ObtainAuthToken):
    """username + password -> the user's API token, under the login limit (portal.login_limits)."""

    throttle_classes = [AnonRateThrottle]  # DRF's view turns throttling off
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES  # DRF's view names its own

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = request.data
        username = str(data.get("username", "")) if isinstance(data, Mapping) else ""
        if login_limits.is_locked(request, username):
            raise exceptions.Throttled(
                wait=login_limits.WINDOW_S, detail="Too many failed logins; try again later."
            )
        return super().post(request, *args, **kwargs)


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=["operator", "viewer", "none"])
    is_staff = serializers.BooleanField()
    modules = serializers.ListField(child=serializers.CharField())


class APIRootView(APIView):
    """Entry point: links to every mounted module's endpoints, the schema and the docs."""

    permission_classes = [IsViewer]

    @extend_schema(
        responses=inline_serializer(
            "APIRoot", {"modules": serializers.DictField(), "schema": serializers.URLField()}
        )
    )
    def get(self, request: Request) -> Response:
        modules = {}
        for module in settings.PORTAL_MODULES:
            try:
                modules[module] = request.build_absolute_uri(reverse(f"{module}_api:root"))
            except NoReverseMatch:
                modules[module] = request.build_absolute_uri(f"/api/{module}/")
        return Response(
            {
                "modules": modules,
                "me": request.build_absolute_uri(reverse("api-me")),
                "token": request.build_absolute_uri(reverse("api-token")),
                "schema": request.build_absolute_uri(reverse("api-schema")),
                "docs": request.build_absolute_uri(reverse("api-docs")),
            }
        )


class MeView(APIView):
    """Who the caller is, their role and the modules this deployment mounts."""

    permission_classes = [IsViewer]

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        user = request.user
        return Response(
            MeSerializer(
                {
                    "username": user.get_username(),
                    "role": role_name(user),
                    "is_staff": user.is_staff,
                    "modules": settings.PORTAL_MODULES,
                }
            ).data
        )
