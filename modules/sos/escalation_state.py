"""Where an alert's escalation stands: its plan of steps, the stop rules, and stopping it.

One runner (outbox/escalation.py) runs every plan. A plan is the alert's policy's steps, or, for
an alert that asked for reminders of its own (`require_ack`, `reminder_max`, `escalate_to`), the
two steps those fields always meant: remind the silent recipients every `reminder_interval_min`,
`reminder_max` times, then notify the `escalate_to` group; both stop once nothing is outstanding.
Such an alert keeps its older fields up to date (`reminders_sent`, `next_reminder_at`,
`escalated_at`) and its `reminder` / `escalated` events, as clients and pages read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from modules.sos.models import (
    Alert,
    AlertEvent,
    Contact,
    Delivery,
    EscalationStatus,
    EscalationStep,
    Group,
    StopRule,
)

State = Delivery.State
# Exhausted still runs until its last wave is out: an answer may call that wave off.
RUNNING = (EscalationStatus.ACTIVE, EscalationStatus.EXHAUSTED)
# The reminders' rule, never a policy's: nobody left who was sent the alert and has not answered
# (answered, or could not be reached).
NOTHING_OUTSTANDING = "nothing_outstanding"
OUTSTANDING = (State.PENDING, State.SENDING, State.SENT)
REMINDER, ESCALATE_TO = "reminder", "escalate_to"


@dataclass(frozen=True)
class Step:
    """A step as the runner runs it; `legacy` marks the two steps of an alert's own reminders."""

    groups: Sequence[Group] = ()
    contacts: Sequence[Contact] = ()
    remind_recipients: bool = False
    delay_min: int = 0
    repeat: int = 0
    stop_rule: str = StopRule.ANY_ACK
    responses_needed: int = 1
    legacy: str = ""

    @classmethod
    def of(cls, step: EscalationStep) -> Step:
        return cls(
            groups=list(step.groups.all()),
            contacts=list(step.contacts.all()),
            remind_recipients=step.remind_recipients,
            delay_min=step.delay_min,
            repeat=step.repeat,
            stop_rule=step.stop_rule,
            responses_needed=step.responses_needed,
        )


def legacy_plan(alert: Alert) -> list[Step]:
    """The steps of an alert's own reminders and escalate_to group (none without require_ack)."""
    if not alert.require_ack or alert.escalation_policy_id:
        return []
    steps = []
    interval = alert.reminder_interval_min
    if alert.reminder_max > 0:
        steps.append(
            Step(
                remind_recipients=True,
                delay_min=interval,
                repeat=alert.reminder_max - 1,
                stop_rule=NOTHING_OUTSTANDING,
                legacy=REMINDER,
            )
        )
    if alert.escalate_to_id:
        steps.append(
            Step(
                groups=[alert.escalate_to],
                delay_min=interval,
                stop_rule=NOTHING_OUTSTANDING,
                legacy=ESCALATE_TO,
            )
        )
    return steps


def alert_steps(alert: Alert) -> list[Step]:
    """The plan the alert follows: its policy's steps, or its own reminders'."""
    if alert.escalation_policy_id:
        rows = EscalationStep.objects.filter(policy_id=alert.escalation_policy_id)
        return [Step.of(s) for s in rows.prefetch_related("groups", "contacts")]
    return legacy_plan(alert)


def current_step(alert: Alert) -> Step | None:
    steps = alert_steps(alert) if alert.escalation_step >= 1 else []
    return steps[alert.escalation_step - 1] if alert.escalation_step <= len(steps) else None


def person(contact_id: int | None, contact_name: str) -> object:
    """Who a delivery is for: its contact, or its name once the contact was deleted."""
    return contact_id if contact_id is not None else f"name:{contact_name}"


# Answers that acknowledge the alert. "I need help" and "Can't help" are answers too (nobody
# who gave one is paged again) but they must not stop an escalation: the leads are still needed.
ACKNOWLEDGING = frozenset({Delivery.Answer.RECEIVED, Delivery.Answer.SAFE, Delivery.Answer.ON_IT})


@dataclass(frozen=True)
class Tally:
    answered: frozenset[object]  # contacts (by id, or name once deleted) who answered at all
    reached: frozenset[object]  # contacts a message was delivered to (sent_at set)
    outstanding: int  # deliveries still pending, sending or sent without an answer
    acknowledged: frozenset[object] = frozenset()  # whose latest answer acknowledges


def tally(alert_id: int) -> Tally:
    answered: set[object] = set()
    acknowledged: set[object] = set()
    reached: set[object] = set()
    outstanding = 0
    rows = Delivery.objects.filter(alert_id=alert_id).values_list(
        "contact_id", "contact_name", "answer", "last_answer", "state", "sent_at"
    )
    for contact_id, name, answer, last_answer, state, sent_at in rows:
        key = person(contact_id, name)
        if sent_at is not None:
            reached.add(key)
        if answer or last_answer:
            answered.add(key)
        if (last_answer or answer) in ACKNOWLEDGING:
            acknowledged.add(key)
        outstanding += state in OUTSTANDING
    return Tally(frozenset(answered), frozenset(reached), outstanding, frozenset(acknowledged))


def rule_met(step: Step, counts: Tally) -> bool:
    """Whether the step's stop rule holds. all_ack: everyone a message was delivered to
    acknowledged (people who could not be reached cannot, and do not hold it open)."""
    if step.stop_rule == NOTHING_OUTSTANDING:
        return counts.outstanding == 0
    if step.stop_rule == StopRule.ALL_ACK:
        return bool(counts.reached) and counts.reached <= counts.acknowledged
    if step.stop_rule == StopRule.RESPONSES:
        return len(counts.acknowledged) >= max(1, step.responses_needed)
    return bool(counts.acknowledged)


def rule_text(step: Step) -> str:
    if step.stop_rule == NOTHING_OUTSTANDING:
        return "everyone answered or could not be reached"
    if step.stop_rule == StopRule.RESPONSES:
        return f"{step.responses_needed} acknowledgements"
    if step.stop_rule == StopRule.ALL_ACK:
        return "everyone reached acknowledged"
    return "any acknowledgement"


def cancel_pending_escalations(
    alert_id: int, *, now: datetime, contacts: Iterable[object] | None = None
) -> int:
    """Call off escalation sends not yet claimed (all, or those of `contacts`). A re-send of a
    message already delivered goes back to `sent`; a first send is cancelled."""
    pending = Delivery.objects.filter(alert_id=alert_id, state=State.PENDING, step__gt=0)
    if contacts is not None:
        ids = [c for c in contacts if isinstance(c, int)]
        pending = pending.filter(contact_id__in=ids)
    # A called-off re-send is again the message delivered before: its round as it was.
    back = pending.filter(sent_at__isnull=False).update(
        state=State.SENT, next_attempt_at=None, round=Greatest(F("round") - 1, 0)
    )
    gone = pending.filter(sent_at__isnull=True).update(
        state=State.CANCELLED, closed_at=now, next_attempt_at=None
    )
    return back + gone


def escalation_on_answer(*, alert_id: int, now: datetime | None = None) -> bool:
    """After a recipient answered: nobody who answered is escalated, and once the current
    step's stop rule is met the escalation stops and its unsent messages are called off.
    Returns True when this answer stopped the escalation."""
    now = now or timezone.now()
    with transaction.atomic():
        # The alert row first, as the runner and the close take it. FOR NO KEY UPDATE, not FOR
        # UPDATE: the outcome writer holds a delivery row and inserts an AlertEvent, whose
        # foreign key takes FOR KEY SHARE on this alert; FOR UPDATE would close a deadlock cycle.
        alert = Alert.objects.select_for_update(no_key=True).filter(pk=alert_id).first()
        if alert is None:
            return False
        running = alert.status == Alert.Status.OPEN and alert.escalation_status in RUNNING
        if (
            not running
            and not Delivery.objects.filter(
                alert_id=alert_id, state=State.PENDING, step__gt=0
            ).exists()
        ):
            return False  # nothing to call off, no rule to check: skip the tally
        counts = tally(alert_id)
        cancel_pending_escalations(alert_id, now=now, contacts=counts.answered)
        if not running:
            return False
        step = current_step(alert)
        if step is None or not rule_met(step, counts):
            return False
        if alert.escalation_status == EscalationStatus.EXHAUSTED and not (
            Delivery.objects.filter(alert_id=alert_id, state=State.PENDING, step__gt=0).exists()
        ):
            return False  # the last wave is out: nothing left to stop
        return escalation_stop(alert, step, counts, now=now)


def escalation_stop(alert: Alert, step: Step, counts: Tally, *, now: datetime) -> bool:
    """Mark the escalation satisfied (if still at this step) and call off its unsent sends."""
    stopped = Alert.objects.filter(
        pk=alert.pk,
        escalation_status__in=RUNNING,
        escalation_step=alert.escalation_step,
    ).update(
        escalation_status=EscalationStatus.SATISFIED,
        next_escalation_at=None,
        next_reminder_at=None,
    )
    if not stopped:
        return False
    called_off = cancel_pending_escalations(alert.pk, now=now)
    if step.legacy and not called_off:
        return True  # reminders ran out of people to remind; they never logged that
    AlertEvent.objects.create(
        alert=alert,
        kind=AlertEvent.Kind.ESCALATED,
        message=f"Escalation stopped at step {alert.escalation_step}: {rule_text(step)} "
        f"({len(counts.acknowledged)} of {len(counts.reached)} acknowledged); "
        f"{called_off} unsent escalation messages called off",
        data={
            "stopped": True,
            "step": alert.escalation_step,
            "rule": step.stop_rule,
            "answered": len(counts.answered),
            "acknowledged": len(counts.acknowledged),
            "reached": len(counts.reached),
            "called_off": called_off,
        },
    )
    return True


def escalation_cancel(*, alert_id: int, now: datetime | None = None, reason: str = "") -> int:
    """Stop an alert's escalation (and reminders) whatever its stop rule: the alert as a whole
    was acknowledged, e.g. through the Events API. No more waves; its unsent escalation
    messages are called off. Returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        stopped = Alert.objects.filter(pk=alert_id, escalation_status__in=RUNNING).update(
            escalation_status=EscalationStatus.SATISFIED,
            next_escalation_at=None,
            next_reminder_at=None,
        )
        if not stopped:
            return 0
        called_off = cancel_pending_escalations(alert_id, now=now)
        AlertEvent.objects.create(
            alert_id=alert_id,
            kind=AlertEvent.Kind.ESCALATED,
            message=(
                f"Escalation stopped{': ' + reason if reason else ''}; "
                f"{called_off} unsent escalation messages called off"
            )[:500],
            data={"stopped": True, "reason": reason[:200], "called_off": called_off},
        )
    return called_off
