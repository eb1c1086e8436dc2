"""Face Comparison queries: the comparison log, the reference gallery, today's counts."""

from __future__ import annotations

from datetime import datetime, time

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from modules.faces.models import Comparison, Reference


def comparisons(*, verdict: str | None = None) -> QuerySet[Comparison]:
    """The log, newest first, with who compared."""
    queryset = Comparison.objects.select_related("user")
    return queryset.filter(verdict=verdict) if verdict else queryset


def references() -> QuerySet[Reference]:
    return Reference.objects.select_related("created_by")


def compared_today() -> dict[str, int]:
    """{"total", "matches"} since local midnight."""
    start = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    return Comparison.objects.filter(created_at__gte=start).aggregate(
        total=Count("id"), matches=Count("id", filter=Q(verdict=Comparison.Verdict.MATCH))
    )
