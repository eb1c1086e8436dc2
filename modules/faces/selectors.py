"""Face Comparison queries: the comparison log, the reference gallery, today's counts."""

from __future__ import annotations

from datetime import datetime, time

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from modules.faces.models import Comparison, Reference, Subject


def comparisons(*, verdict: str | None = None) -> QuerySet[Comparison]:
    """The log, newest first, with who compared."""
    queryset = Comparison.objects.select_related("user")
    return queryset.filter(verdict=verdict) if verdict else queryset


def references() -> QuerySet[Reference]:
    return Reference.objects.select_related("created_by")


def live_references() -> QuerySet[Reference]:
    """The references a search can find: expired ones wait only for faces_prune."""
    return references().filter(expires_at__gt=timezone.now())


def subjects() -> QuerySet[Subject]:
    return Subject.objects.select_related("created_by").prefetch_related(
        "consents__recorded_by", "references"
    )


def compared_today() -> dict[str, int]:
    """{"total", "matches"} since local midnight."""
    start = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    return Comparison.objects.filter(created_at__gte=start).aggregate(
        total=Count("id"), matches=Count("id", filter=Q(verdict=Comparison.Verdict.MATCH))
    )
