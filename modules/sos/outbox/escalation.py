"""The escalation runner: at each step's time, unless its stop rule is met, notify the step's
silent recipients once, `1 + repeat` times, then move on to the next step.

One runner for every plan: a policy's steps, and an alert's own reminders + escalate_to group
(escalation_state.py). Called at the start of every dispatcher pass, which then claims and sends
the rows queued here. A wave runs only in the transaction that moved the alert off its
(next_escalation_at, step, wave) slot, so overlapping passes never run a wave twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet

from modules.sos.escalation_state import (
    ESCALATE_TO,
    REMINDER,
    Step,
    Tally,
    alert_steps,
    escalation_stop,
    person,
    rule_met,
    rule_text,
    tally,
)
from modules.sos.models import Alert, AlertEvent, Delivery, EscalationStatus
from modules.sos.outbox.locking import retry_if_locked
from modules.sos.recipients import build_deliveries, resolve_recipients

logger = logging.getLogger("modules.sos.dispatch")
State = Delivery.State
BATCH = 100
CHUNK = 500  # ids per UPDATE: well below any database's limit on query variables


def alerts_escalate_due(*, now: datetime) -> int:
    """Run every reminder and escalation wave due at `now`; returns the waves run."""
    retry_if_locked(lambda: _adopt(now))
    due = retry_if_locked(
        lambda: list(
            Alert.objects.escalation_steps_due(now)
            .order_by("next_escalation_at")
            .values_list("id", "next_escalation_at", "escalation_step", "escalation_waves")[:BATCH]
        )
    )
    done = 0
    for alert_id, slot, step, waves in due:
        try:
            done += retry_if_locked(
                lambda a=alert_id, s=slot, n=step, w=waves: _escalate(a, s, n, w, now)
            )
        except Exception:
            # One alert's failure (a policy edited into a bad state, a database error) must
            # not hold back every other alert's waves, nor the pass's sends.
            logger.exception("SOS escalation: the wave of alert %s failed", alert_id)
    if done:
        logger.info("SOS escalation: %s waves run", done)
    return done


def _adopt(now: datetime) -> None:
    """Alerts whose reminders were scheduled without a plan (before plans existed, or written
    directly) take up their plan where their counters stand."""
    orphans = Alert.objects.reminders_due(now).select_related("escalate_to")[:BATCH]
    for alert in orphans:
        steps = alert_steps(alert)
        number, waves = 1, alert.reminders_sent
        if steps and steps[0].legacy == REMINDER and waves >= alert.reminder_max:
            number, waves = 2, 0
        ready = number <= len(steps) and not (alert.escalated_at and number == len(steps))
        with transaction.atomic():
            Alert.objects.filter(
                pk=alert.pk, escalation_status="", next_reminder_at=alert.next_reminder_at
            ).update(
                escalation_status=EscalationStatus.ACTIVE if ready else EscalationStatus.EXHAUSTED,
                escalation_step=number,
                escalation_waves=waves,
                next_escalation_at=alert.next_reminder_at if ready else None,
                next_reminder_at=alert.next_reminder_at if ready else None,
            )


def resend_delivered(deliveries: QuerySet[Delivery], *, now: datetime, **changes: Any) -> int:
    """Queue the next round of the messages among `deliveries` that were delivered (state sent):
    a reminder, or an escalation step's re-send. Returns how many."""
    return deliveries.filter(state=State.SENT).update(
        state=State.PENDING,
        round=F("round") + 1,
        attempts=0,
        next_attempt_at=now,
        # provider_message_id stays until the re-send's own outcome replaces it: a re-send
        # called off (escalation_state.cancel_pending_escalations) is the delivered message.
        # The life-safety lane (lanes.py): a re-send ranks after first sends of its severity.
        priority=F("priority") / 2 * 2 + 1,
        **changes,
    )


def _escalate(alert_id: int, slot: datetime, number: int, waves: int, now: datetime) -> int:
    with transaction.atomic():
        won = (
            Alert.objects.filter(
                pk=alert_id,
                status=Alert.Status.OPEN,
                escalation_status=EscalationStatus.ACTIVE,
                next_escalation_at=slot,
                escalation_step=number,
                escalation_waves=waves,
            )
            .filter(
                # During a rolling deploy a worker of the version before plans (reminders.py) may
                # take the same reminder by next_reminder_at: whoever moves it first runs the wave.
                Q(next_reminder_at__isnull=True) | Q(next_reminder_at=slot)
            )
            .update(next_escalation_at=None, next_reminder_at=None)
        )
        if not won:
            # The older worker sent it: follow its schedule from here (its count of reminders).
            Alert.objects.filter(
                pk=alert_id,
                next_escalation_at=slot,
                escalation_step=number,
                escalation_waves=waves,
                next_reminder_at__gt=slot,
            ).update(
                next_escalation_at=F("next_reminder_at"),
                escalation_waves=F("reminders_sent") if number == 1 else waves,
            )
            return 0  # another pass ran this wave, or an answer stopped the escalation
        alert = Alert.objects.select_related("escalation_policy", "escalate_to").get(pk=alert_id)
        steps = alert_steps(alert)
        if not 1 <= number <= len(steps):  # the policy lost steps meanwhile
            Alert.objects.filter(pk=alert_id).update(
                escalation_status=EscalationStatus.EXHAUSTED, next_reminder_at=None
            )
            return 0
        step = steps[number - 1]
        counts = tally(alert_id)
        if rule_met(step, counts):
            escalation_stop(alert, step, counts, now=now)
            return 0
        names, new, again = _wave(alert, step, number, counts, now)
        wave = waves + 1
        changes: dict[str, Any] = {}
        if wave < 1 + step.repeat:
            changes = {
                "escalation_waves": wave,
                "next_escalation_at": now + timedelta(minutes=step.delay_min),
            }
        elif number < len(steps):
            changes = {
                "escalation_step": number + 1,
                "escalation_waves": 0,
                "next_escalation_at": now + timedelta(minutes=steps[number].delay_min),
            }
        else:
            changes = {"escalation_waves": wave, "escalation_status": EscalationStatus.EXHAUSTED}
        if step.legacy:
            changes["next_reminder_at"] = changes.get("next_escalation_at")
            if step.legacy == REMINDER:
                changes["reminders_sent"] = wave
            else:
                changes["escalated_at"] = now
        Alert.objects.filter(pk=alert_id).update(**changes)
        AlertEvent.objects.create(
            alert=alert, **_event(alert, step, steps, number, wave, names, new, again)
        )
        return 1


def _event(
    alert: Alert,
    step: Step,
    steps: list[Step],
    number: int,
    wave: int,
    names: list[str],
    new: int,
    again: int,
) -> dict[str, Any]:
    who = ", ".join(names) if names else "nobody left to notify"
    if step.legacy == REMINDER:
        return {
            "kind": AlertEvent.Kind.REMINDER,
            "message": f"Reminder {wave} of {alert.reminder_max} to {again} recipients: {who}"[
                :500
            ],
            "data": {"reminder": wave, "recipients": again, "names": names},
        }
    if step.legacy == ESCALATE_TO:
        group = alert.escalate_to.name if alert.escalate_to else ""
        return {
            "kind": AlertEvent.Kind.ESCALATED,
            "message": f"Escalated to group {group}: {who}"[:500],
            "data": {"group": group, "deliveries": new, "recipients": names},
        }
    policy = alert.escalation_policy.name if alert.escalation_policy else ""
    return {
        "kind": AlertEvent.Kind.ESCALATED,
        "message": (
            f"Step {number} of {len(steps)} ({policy}), wave {wave} of {1 + step.repeat},"
            f" until {rule_text(step)}: {who}"
        )[:500],
        "data": {
            "policy": policy,
            "step": number,
            "wave": wave,
            "waves": 1 + step.repeat,
            "recipients": names,
            "new": new,
            "renotified": again,
        },
    }


def _wave(
    alert: Alert, step: Step, number: int, counts: Tally, now: datetime
) -> tuple[list[str], int, int]:
    """Notify each silent recipient of the step once: a new delivery for a method the alert has
    not reached, a re-send (next round) of one already delivered; nothing for anyone who
    answered, or whose message is still on its way. Returns (names, new, re-sent)."""
    deliveries = list(alert.deliveries.all())
    existing = {d.method_id: d for d in deliveries if d.method_id is not None}

    def silent(delivery: Delivery) -> bool:
        return person(delivery.contact_id, delivery.contact_name) not in counts.answered

    resend: set[int] = set()
    again = 0
    if step.remind_recipients:
        resend = {d.pk for d in deliveries if d.state == State.SENT and silent(d)}
        # A filter, not `pk__in` thousands of ids: SQLite refuses more than 32766 variables.
        again = resend_delivered(_silent_sent(alert.pk), now=now, step=number)
    targets = []
    if step.groups or step.contacts:
        targets = resolve_recipients(
            groups=list(step.groups),
            contacts=list(step.contacts),
            channels=alert.channels or None,
        )
    fresh, targeted = [], []
    for recipient in targets:
        if recipient.contact.pk in counts.answered:
            continue
        known = existing.get(recipient.method.pk)
        if known is None:
            fresh.append(recipient)
        elif known.state == State.SENT:
            resend.add(known.pk)
            targeted.append(known.pk)
    for start in range(0, len(targeted), CHUNK):  # those not reminded above
        chunk = Delivery.objects.filter(pk__in=targeted[start : start + CHUNK])
        again += resend_delivered(chunk, now=now, step=number)
    rows = build_deliveries(alert, fresh, now=now, escalation=True)
    for row in rows:
        row.step = number
    Delivery.objects.bulk_create(rows)
    by_pk = {d.pk: d.contact_name for d in deliveries}
    names = {by_pk[pk] for pk in resend} | {r.contact.name for r in fresh}
    return sorted(names), len(rows), again


def _silent_sent(alert_id: int) -> QuerySet[Delivery]:
    """The alert's delivered messages whose recipient (the contact, or the name once the
    contact was deleted) has not answered on any channel."""
    answers = Delivery.objects.filter(alert_id=alert_id).filter(~Q(answer="") | ~Q(last_answer=""))
    by_contact = answers.filter(contact_id=OuterRef("contact_id"))  # none for a NULL contact
    deleted = answers.filter(contact_id__isnull=True).values("contact_name")
    return (
        Delivery.objects.filter(alert_id=alert_id, state=State.SENT)
        .filter(~Exists(by_contact))
        .exclude(contact_id__isnull=True, contact_name__in=deleted)
    )
