"""The OpenAPI schema documents every answer an operation gives, errors included.

Views document their success answers and their module's own errors (`error_response`); the
postprocessing hook `document_errors` adds what any operation can answer through the portal's
plumbing: 400 when it takes input, 401/403 (authentication, roles, CSRF), 404 when a path or a
page number names something, 413/415 when it takes a body, 429 (throttling) and 503 (database
unavailable), all in the one envelope, the `Error` component; and 414 when it reads a query
string, which the HTTP server in front answers in its own words before the portal sees it.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ERROR_COMPONENT = "Error"
ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}

ErrorEnvelope = inline_serializer(
    ERROR_COMPONENT,
    {
        "error": inline_serializer(
            "ErrorBody",
            {
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "details": serializers.DictField(),
            },
        )
    },
)

GENERIC = {
    "400": "`validation_error` (details.fields names each bad field) or `parse_error`",
    "401": "`not_authenticated` or `authentication_failed`",
    "403": "`permission_denied` (the role does not allow it) or `csrf_failed`",
    "404": "`not_found`",
    "413": "`payload_too_large`",
    "415": "`unsupported_media_type`",
    "429": "`throttled` (with Retry-After)",
    "503": "`database_unavailable` (with Retry-After)",
}
URI_TOO_LONG = {
    "description": "The query string is longer than the HTTP server in front accepts "
    "(gunicorn: 4094 bytes in the request line); its own answer, not the envelope"
}

# (component, field): response fields that are left out when they do not apply.
_OPTIONAL_IN_RESPONSES: set[tuple[str, str]] = set()


def error_response(description: str) -> OpenApiResponse:
    """A documented error answer of a view, e.g. {422: error_response("`no_face` ...")}."""
    return OpenApiResponse(ErrorEnvelope, description=description)


def optional_in_responses(component: str, field: str) -> None:
    """drf-spectacular marks every read-only field required; this one is sometimes absent."""
    _OPTIONAL_IN_RESPONSES.add((component, field))


def _statuses(operation: dict[str, Any]) -> set[str]:
    statuses = {"401", "403", "429", "503"}
    parameters = operation.get("parameters", [])
    if "requestBody" in operation:
        statuses |= {"400", "413", "415"}
    if parameters:
        statuses.add("400")
    if any(p.get("in") == "path" or p.get("name") == "page" for p in parameters):
        statuses.add("404")
    return statuses


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> Any:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        ERROR_COMPONENT,
        {
            "type": "object",
            "properties": {"error": {"$ref": "#/components/schemas/ErrorBody"}},
            "required": ["error"],
        },
    )
    schemas.setdefault(
        "ErrorBody",
        {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": {}},
            },
            "required": ["code", "details", "message"],
        },
    )
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if any(p.get("in") == "query" for p in operation.get("parameters", [])):
                responses.setdefault("414", URI_TOO_LONG)
            for status in sorted(_statuses(operation)):
                responses.setdefault(
                    status,
                    {
                        "description": GENERIC[status],
                        "content": {"application/json": {"schema": ERROR_REF}},
                    },
                )
    for component, field in _OPTIONAL_IN_RESPONSES:
        required = schemas.get(component, {}).get("required")
        if required and field in required:
            required.remove(field)
    return result
