"""Queries the views, the API and the serializers share: delivery counts per alert."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from modules.sos.models import Alert, Delivery

STATES = [s for s, _ in Delivery.State.choices]
ANSWERS = [a for a, _ in Delivery.Answer.choices]


def with_counts(queryset: QuerySet[Alert]) -> QuerySet[Alert]:
    """Annotate per-state and per-answer delivery counts in one query."""
    annotations = {f"n_{s}": Count("deliveries", filter=Q(deliveries__state=s)) for s in STATES}
    annotations.update(
        {f"a_{a}": Count("deliveries", filter=Q(deliveries__answer=a)) for a in ANSWERS}
    )
    return queryset.annotate(**annotations)


def alert_counts(alert: Alert) -> dict[str, int]:
    if hasattr(alert, "n_pending"):
        return {s: getattr(alert, f"n_{s}") for s in STATES}
    counts = dict.fromkeys(STATES, 0)
    for row in alert.deliveries.values("state").annotate(n=Count("id")):
        counts[row["state"]] = row["n"]
    return counts


def alert_answers(alert: Alert) -> dict[str, int]:
    if hasattr(alert, "a_received"):
        return {a: getattr(alert, f"a_{a}") for a in ANSWERS}
    answers = dict.fromkeys(ANSWERS, 0)
    for row in alert.deliveries.exclude(answer="").values("answer").annotate(n=Count("id")):
        answers[row["answer"]] = row["n"]
    return answers


def progress(counts: dict[str, int]) -> dict[str, Any]:
    total = sum(counts.values())
    done = total - counts["pending"] - counts["sending"]
    return {
        "total": total,
        "done": done,
        "percent": 100 if total == 0 else int(100 * done / total),
        "finished": done == total,
    }
