"""Reminders to recipients who have not acknowledged, then escalation to a further group.

Called at the start of every dispatcher pass, which then claims the re-queued rows itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F

from modules.sos.models import Alert, AlertEvent, Delivery
from modules.sos.outbox.locking import retry_if_locked
from modules.sos.recipients import build_deliveries, resolve_recipients

State = Delivery.State
OUTSTANDING = (State.PENDING, State.SENDING, State.SENT)


def alerts_remind_due(*, now: datetime) -> int:
    """Re-send to every recipient still unacknowledged of each alert whose reminder is due."""
    due = retry_if_locked(
        lambda: list(
            Alert.objects.filter(
                status=Alert.Status.OPEN, require_ack=True, next_reminder_at__lte=now
            ).values_list("id", "next_reminder_at")[:100]
        )
    )
    done = 0
    for alert_id, slot in due:
        done += retry_if_locked(lambda a=alert_id, s=slot: _remind(a, s, now))
    return done


def _remind(alert_id: int, slot: datetime, now: datetime) -> int:
    with transaction.atomic():
        # Whoever moves next_reminder_at off this slot owns this reminder round.
        won = Alert.objects.filter(pk=alert_id, next_reminder_at=slot).update(next_reminder_at=None)
        if not won:
            return 0
        alert = Alert.objects.select_related("escalate_to").get(pk=alert_id)
        outstanding = alert.deliveries.filter(state__in=OUTSTANDING)
        if not outstanding.exists():
            return 0  # everyone answered (or could not be reached): nothing to remind
        if alert.reminders_sent < alert.reminder_max:
            requeued = alert.deliveries.filter(state=State.SENT).update(
                state=State.PENDING,
                round=F("round") + 1,
                attempts=0,
                next_attempt_at=now,
                provider_message_id="",
            )
            number = alert.reminders_sent + 1
            Alert.objects.filter(pk=alert_id).update(
                reminders_sent=number,
                next_reminder_at=now + timedelta(minutes=alert.reminder_interval_min),
            )
            AlertEvent.objects.create(
                alert=alert,
                kind=AlertEvent.Kind.REMINDER,
                message=f"Reminder {number} of {alert.reminder_max} to {requeued} recipients",
                data={"reminder": number, "recipients": requeued},
            )
            return 1
        if alert.escalate_to_id and alert.escalated_at is None:
            reached = set(alert.deliveries.values_list("method_id", flat=True))
            recipients = resolve_recipients(groups=[alert.escalate_to], channels=alert.channels)
            recipients = [r for r in recipients if r.method.pk not in reached]
            created = Delivery.objects.bulk_create(
                build_deliveries(alert, recipients, escalation=True, now=now)
            )
            Alert.objects.filter(pk=alert_id).update(escalated_at=now)
            AlertEvent.objects.create(
                alert=alert,
                kind=AlertEvent.Kind.ESCALATED,
                message=f"Escalated to group {alert.escalate_to.name}",
                data={"group": alert.escalate_to.name, "deliveries": len(created)},
            )
            return 1
    return 0
