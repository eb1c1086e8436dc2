"""Query-string filters of the SOS API list endpoints: text that PostgreSQL can compare, ids
that a row can have."""

from __future__ import annotations

from django.db.models import Model, QuerySet
from rest_framework.request import Request

from portal.errors import PortalError
from portal.ids import parse_id


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
