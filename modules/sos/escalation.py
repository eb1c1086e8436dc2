"""Escalation policies: their workflows, and which plan an alert follows.

The runner that sends each step's waves is outbox/escalation.py; where an alert's escalation
stands, the stop rules and `escalation_on_answer` (after an answer) are in escalation_state.py.
Decisions: an alert follows the policy it names; else, if it asks for no reminders of its own,
the policy of its first group (lowest id) that has one — an emergency is never refused over
which default applies — unless it is an info notice or was raised with require_ack false
(alert_draft.py). A policy replaces the legacy reminders/escalate_to of that alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction

from modules.sos.errors import InvalidAlert, SosError
from modules.sos.escalation_state import (  # noqa: F401 - re-exported
    RUNNING,
    Step,
    cancel_pending_escalations,
    escalation_cancel,
    escalation_on_answer,
    legacy_plan,
)
from modules.sos.models import (
    Alert,
    EscalationPolicy,
    EscalationStatus,
    EscalationStep,
    Group,
    StopRule,
)
from portal.ids import MAX_ID, parse_id

MAX_STEPS = 20
MAX_REPEAT = 50
MAX_DELAY_MIN = 7 * 24 * 60


class InvalidPolicy(SosError):
    code = "validation_error"


class PolicyInUse(SosError):
    code = "policy_in_use"
    status = 409


# One step as the API and the admin give it: the runner's own Step (escalation_state.py), one
# dataclass for both (`legacy` stays empty for a policy's steps).
StepSpec = Step


def step_problems(spec: StepSpec) -> dict[str, str]:
    """What is wrong with one step, by field name; empty if nothing."""
    problems: dict[str, str] = {}
    if not (spec.groups or spec.contacts or spec.remind_recipients):
        problems["groups"] = "A step needs groups, contacts or remind_recipients."
    if spec.stop_rule not in StopRule.values:
        problems["stop_rule"] = f"stop_rule must be one of {', '.join(StopRule.values)}."
    if spec.stop_rule == StopRule.RESPONSES and spec.responses_needed < 1:
        problems["responses_needed"] = "The 'responses' rule needs responses_needed >= 1."
    if not 0 <= spec.delay_min <= MAX_DELAY_MIN:
        problems["delay_min"] = f"delay_min must be 0..{MAX_DELAY_MIN}."
    if not 0 <= spec.repeat <= MAX_REPEAT:
        problems["repeat"] = f"repeat must be 0..{MAX_REPEAT}."
    elif spec.repeat and spec.delay_min < 1:
        problems["delay_min"] = "A repeated step needs delay_min >= 1 (the time between repeats)."
    return problems


def _check_steps(steps: Sequence[StepSpec]) -> None:
    if not steps:
        raise InvalidPolicy("A policy needs at least one step.", details={"field": "steps"})
    if len(steps) > MAX_STEPS:
        raise InvalidPolicy(f"At most {MAX_STEPS} steps.", details={"field": "steps"})
    for number, spec in enumerate(steps, start=1):
        if problems := step_problems(spec):
            raise InvalidPolicy(
                f"Step {number}: {' '.join(problems.values())}",
                details={"field": "steps", "step": number, "fields": problems},
            )


def _write_steps(policy: EscalationPolicy, steps: Sequence[StepSpec]) -> None:
    policy.steps.all().delete()
    for number, spec in enumerate(steps, start=1):
        step = EscalationStep.objects.create(
            policy=policy,
            order=number,
            remind_recipients=spec.remind_recipients,
            delay_min=spec.delay_min,
            repeat=spec.repeat,
            stop_rule=spec.stop_rule,
            responses_needed=spec.responses_needed,
        )
        step.groups.set(spec.groups)
        step.contacts.set(spec.contacts)


def _save(policy: EscalationPolicy) -> None:
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError:
        raise InvalidPolicy(
            f"A policy named {policy.name!r} already exists.", details={"field": "name"}
        ) from None


@transaction.atomic
def escalation_policy_create(
    *, name: str, description: str = "", steps: Sequence[StepSpec]
) -> EscalationPolicy:
    """A policy and its ordered steps; raises InvalidPolicy (400 validation_error)."""
    _check_steps(steps)
    policy = EscalationPolicy(name=name.strip(), description=description)
    _save(policy)
    _write_steps(policy, steps)
    return policy


@transaction.atomic
def escalation_policy_update(
    *,
    policy: EscalationPolicy,
    name: str | None = None,
    description: str | None = None,
    steps: Sequence[StepSpec] | None = None,
) -> EscalationPolicy:
    """Change a policy; `steps` replaces all of them. Alerts already running keep their place
    (their step number) and use the new steps from their next wave on."""
    if name is not None:
        policy.name = name.strip()
    if description is not None:
        policy.description = description
    _save(policy)
    if steps is not None:
        _check_steps(steps)
        _write_steps(policy, steps)
    return policy


def policy_in_use(policy: EscalationPolicy) -> list[int]:
    """Up to 20 open alerts escalating with `policy` (deleting it would strand them)."""
    running = Alert.objects.filter(
        escalation_policy=policy, status=Alert.Status.OPEN, escalation_status__in=RUNNING
    ).values_list("id", flat=True)[:20]
    return list(running)


def escalation_policy_delete(*, policy: EscalationPolicy) -> None:
    """Delete a policy no open alert is escalating with; raises PolicyInUse (409). Groups
    that used it as their default lose it; closed alerts keep their history."""
    with transaction.atomic():
        # The row lock first: a raise holding the policy (_hold_policy) commits its alert
        # before this check runs, so the check sees it.
        EscalationPolicy.objects.select_for_update().filter(pk=policy.pk).first()
        if ids := policy_in_use(policy):
            raise PolicyInUse(
                f"Open alerts are escalating with {policy.name!r}: resolve them first.",
                details={"alerts": ids},
            )
        policy.delete()


def group_set_escalation_policy(*, group: Group, policy: EscalationPolicy | None) -> Group:
    """The policy alerts to this group follow when they name none (None: no default)."""
    Group.objects.filter(pk=group.pk).update(escalation_policy=policy)
    group.escalation_policy = policy
    return group


def lookup_policy(value: EscalationPolicy | int | str) -> EscalationPolicy:
    """A policy by object, id or name (case-insensitive); raises InvalidAlert (400)."""
    if isinstance(value, EscalationPolicy):
        return value
    text = str(value).strip()
    found: EscalationPolicy | None = None
    if isinstance(value, int) or text.isdecimal():
        pk = value if isinstance(value, int) else parse_id(text)
        if pk is not None and 0 < pk <= MAX_ID:
            found = EscalationPolicy.objects.filter(pk=pk).first()
    elif "\x00" not in text:
        # The exact name first: names are unique as written, so "night" and "Night" may both
        # exist; any case only when no exact match does.
        found = (
            EscalationPolicy.objects.filter(name=text).first()
            or EscalationPolicy.objects.filter(name__iexact=text).order_by("pk").first()
        )
    if found is None:
        raise InvalidAlert(
            f"Unknown escalation policy: {text}", details={"field": "escalation_policy"}
        )
    return found


def default_policy(groups: Iterable[Group]) -> EscalationPolicy | None:
    """The policy of the lowest-id group that has one (the decision is documented above)."""
    with_policy = sorted((g for g in groups if g.escalation_policy_id), key=lambda g: g.pk)
    return with_policy[0].escalation_policy if with_policy else None


def reminders_begin(alert: Alert, *, now: datetime) -> None:
    """Set an unsaved alert that asked for reminders / escalate_to to run them (its plan)."""
    steps = legacy_plan(alert)
    if not steps:
        return
    alert.escalation_status = EscalationStatus.ACTIVE
    alert.escalation_step, alert.escalation_waves = 1, 0
    alert.next_escalation_at = now + timedelta(minutes=steps[0].delay_min)
    alert.next_reminder_at = alert.next_escalation_at


def _hold_policy(policy: EscalationPolicy) -> bool:
    """Whether `policy` still exists; on PostgreSQL inside the raise's transaction, also keep
    it until the commit (FOR KEY SHARE: other raises go on, a delete waits and then sees this
    alert). Without it a delete could pass its in-use check and the raise fail at commit."""
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        return EscalationPolicy.objects.filter(pk=policy.pk).exists()
    with connection.cursor() as cursor:
        # Django has no FOR KEY SHARE; the table name is the model's own, not input.
        cursor.execute(
            'SELECT 1 FROM "sos_escalationpolicy" WHERE id = %s FOR KEY SHARE', [policy.pk]
        )
        return cursor.fetchone() is not None


def escalation_begin(alert: Alert, policy: EscalationPolicy, *, now: datetime) -> None:
    """Set an unsaved alert to follow `policy`: step 1 is due its delay after the raise. A
    policy deleted meanwhile is not followed: the alert still goes out, without escalation."""
    if not _hold_policy(policy):
        return
    first = policy.steps.order_by("order").first()
    alert.escalation_policy = policy
    alert.require_ack = True  # the messages ask for the answers the stop rules count
    alert.reminder_interval_min = alert.reminder_max = 0
    alert.escalate_to = None
    alert.next_reminder_at = None
    if first is None:
        alert.escalation_status = EscalationStatus.EXHAUSTED
        return
    alert.escalation_status = EscalationStatus.ACTIVE
    alert.escalation_step, alert.escalation_waves = 1, 0
    alert.next_escalation_at = now + timedelta(minutes=first.delay_min)
