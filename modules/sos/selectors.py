"""Queries the views, the API and the serializers share: delivery counts per alert."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from modules.sos.models import Alert, AlertEvent, Delivery

STATES = [s for s, _ in Delivery.State.choices]
ANSWERS = [a for a, _ in Delivery.Answer.choices]


def with_counts(queryset: QuerySet[Alert]) -> QuerySet[Alert]:
    """Annotate per-state and per-answer delivery counts in one query."""
    annotations = {f"n_{s}": Count("deliveries", filter=Q(deliveries__state=s)) for s in STATES}
    annotations.update(
        {f"a_{a}": Count("deliveries", filter=Q(deliveries__answer=a)) for a in ANSWERS}
    )
    # Acknowledged rows whose latest answer is "I need help" (`answer` keeps the first one).
    help_ = Delivery.Answer.NEED_HELP
    latest_help = Q(deliveries__last_answer=help_) | Q(
        deliveries__last_answer="", deliveries__answer=help_
    )
    annotations["h_need_help"] = Count(
        "deliveries", filter=Q(deliveries__state=Delivery.State.ACKNOWLEDGED) & latest_help
    )
    annotations.update(
        {
            f"r_{s}": Count(
                "deliveries", filter=Q(deliveries__state=s, deliveries__sent_at__isnull=False)
            )
            for s in RESENT_STATES
        }
    )
    return queryset.annotate(**annotations)


# A re-send (reminder, escalation) of a message already delivered: the person was reached.
RESENT_STATES = [Delivery.State.PENDING, Delivery.State.SENDING, Delivery.State.FAILED]


def alert_resent(alert: Alert) -> dict[str, int]:
    """Per state, rows re-sending (or failing to re-send) a message delivered before."""
    if hasattr(alert, "r_pending"):
        return {s: getattr(alert, f"r_{s}") for s in RESENT_STATES}
    rows = alert.deliveries.filter(state__in=RESENT_STATES, sent_at__isnull=False)
    found = dict(rows.values_list("state").annotate(n=Count("id")).order_by())
    return {s: found.get(s, 0) for s in RESENT_STATES}


def alert_need_help(alert: Alert) -> int:
    """Acknowledged deliveries whose latest answer is "I need help"."""
    if hasattr(alert, "h_need_help"):
        return alert.h_need_help
    help_ = Delivery.Answer.NEED_HELP
    rows = alert.deliveries.filter(state=Delivery.State.ACKNOWLEDGED)
    return rows.filter(Q(last_answer=help_) | Q(last_answer="", answer=help_)).count()


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


def without_send_tests(queryset: QuerySet[Alert]) -> QuerySet[Alert]:
    """Leave out the closed audit alerts of "Send test" (send_test.py: their raise event names
    the one method tested). Alerts raised with `test: true` send for real and stay."""
    audits = AlertEvent.objects.filter(kind=AlertEvent.Kind.RAISED, data__has_key="method")
    return queryset.exclude(is_test=True, pk__in=audits.values("alert_id"))
