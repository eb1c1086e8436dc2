"""Recipients' answers: through the signed acknowledgement link, an SMS or an email reply.

`delivery_answer()` is the one function that records an answer, whatever it came through.

- While the alert is open, a delivery's first answer is recorded: `Delivery.answer`, state
  `acknowledged`, `acknowledged_at`; pending escalations for it are cancelled (the one hook
  below). Later answers on the same delivery are logged (`answered_again`) and become the
  recipient's latest answer, which the roll-call shows; the first answer stays on record. A
  later answer that changes nothing (same answer, note and place) is logged up to
  MAX_REPEAT_ANSWERS times per delivery; a change is always logged.
- The answer must be one of the alert's choices (answers.answer_choices) or "received".
- After the alert is resolved or cancelled ("answers after the end"), an answer is still taken,
  because someone may need help after the all-clear, but as a LATE answer: it becomes the
  latest answer with `answered_late` set and an event `late_answer`, and it never changes
  `Delivery.state`, `answer` or `acknowledged_at`. A cancelled, never-sent delivery stays
  cancelled. The page shows the alert's final state (resolved or cancelled, when).
- A note (up to NOTE_MAX characters) and a location may come with any answer; a later answer
  without them keeps the earlier ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from django.db import transaction
from django.utils import timezone

from modules.sos.ack_links import read_ack_token
from modules.sos.answers import NOTE_MAX, AnswerLocation, answer_choices
from modules.sos.errors import AckLinkInvalid, InvalidAlert
from modules.sos.escalation_state import escalation_on_answer
from modules.sos.models import Alert, AlertEvent, Delivery

State = Delivery.State
Via = Literal["link", "sms", "email"]
VIAS = ("link", "sms", "email")
# Later answers on one delivery are logged up to this many, then ignored: the public ack
# link must not let anyone who holds it grow the event log without bound.
MAX_REPEAT_ANSWERS = 5


# What a later answer may change: the roll-call's view of the person.
_LATEST = (
    "last_answer",
    "answer_note",
    "answer_latitude",
    "answer_longitude",
    "answer_accuracy_m",
    "answered_late",
)


@dataclass(frozen=True)
class AckResult:
    delivery: Delivery
    recorded: bool  # True: this was the delivery's first answer while the alert was open
    answer: str
    late: bool = False  # the alert was already closed: kept as a late answer, states unchanged


def delivery_from_ack_token(*, token: str) -> Delivery:
    """The delivery a signed link names; raises AckLinkInvalid (tampered, expired, unknown)."""
    pk = read_ack_token(token)
    delivery = Delivery.objects.select_related("alert").filter(pk=pk).first()
    if delivery is None:
        raise AckLinkInvalid("This acknowledgement link is no longer valid.")
    return delivery


def clean_note(note: str) -> str:
    """The note as stored: no NUL (PostgreSQL refuses it), no surrounding blanks."""
    return note.replace("\x00", "").strip()


def delivery_answer(
    *,
    delivery: Delivery,
    answer: str,
    note: str = "",
    location: AnswerLocation | None = None,
    via: Via = "link",
    remote_addr: str = "",
    user_agent: str = "",
    now: datetime | None = None,
) -> AckResult:
    """Record a recipient's answer (see the module docstring for the rules).

    Raises InvalidAlert (400, validation_error) for an unknown answer or `via`, or a note
    longer than NOTE_MAX.
    """
    allowed = [value for value, _ in answer_choices(delivery.alert)]
    allowed += [] if Delivery.Answer.RECEIVED in allowed else [Delivery.Answer.RECEIVED]
    if answer not in allowed:
        # The alert's own choices only: "on it" is no answer to "are you safe?". "Received"
        # (safety not stated) fits every alert: a reply that is only a note records it.
        raise InvalidAlert(
            f"answer must be one of {', '.join(allowed)}", details={"field": "answer"}
        )
    if via not in VIAS:
        raise InvalidAlert(f"via must be one of {', '.join(VIAS)}")
    note = clean_note(note)
    if len(note) > NOTE_MAX:
        raise InvalidAlert(f"The note is longer than {NOTE_MAX} characters.")
    now = now or timezone.now()
    latest: dict[str, Any] = {"last_answer": answer, "answered_at": now, "answer_via": via}
    if note:
        latest["answer_note"] = note
    if location is not None:
        latest.update(
            answer_latitude=location.latitude,
            answer_longitude=location.longitude,
            answer_accuracy_m=location.accuracy_m,
        )
    data: dict[str, Any] = {
        "answer": answer,
        "via": via,
        "ip": remote_addr.replace("\x00", "")[:64],
        "user_agent": user_agent.replace("\x00", "")[:200],  # jsonb cannot hold \u0000
    }
    if note:
        data["note"] = note
    if location is not None:
        data["location"] = {
            "lat": location.latitude,
            "lon": location.longitude,
            "accuracy_m": location.accuracy_m,
        }
    with transaction.atomic():
        # The alert row first (the order escalation and closing use), then an UPDATE without a
        # join: PostgreSQL does not re-check a joined subquery after waiting for a row lock, so
        # `alert__status=OPEN` in the UPDATE let two racing first answers both be recorded.
        # no_key: an AlertEvent insert (outcome writer) takes FOR KEY SHARE on the alert while
        # holding a delivery row; FOR UPDATE here would deadlock with it.
        status = (
            Alert.objects.select_for_update(no_key=True)
            .filter(pk=delivery.alert_id)
            .values_list("status", flat=True)
            .first()
        )
        late = status != Alert.Status.OPEN
        recorded = 0
        if not late:
            recorded = Delivery.objects.filter(pk=delivery.pk, answer="").update(
                answer=answer,
                state=State.ACKNOWLEDGED,
                acknowledged_at=now,
                next_attempt_at=None,
                answered_late=False,
                **latest,
            )
        logged = bool(recorded)
        if not recorded:
            before = Delivery.objects.filter(pk=delivery.pk).values(*_LATEST).first() or {}
            Delivery.objects.filter(pk=delivery.pk).update(answered_late=late, **latest)
            after = Delivery.objects.filter(pk=delivery.pk).values(*_LATEST).first() or {}
            repeats = AlertEvent.objects.filter(
                delivery=delivery,
                kind__in=[AlertEvent.Kind.ANSWERED_AGAIN, AlertEvent.Kind.LATE_ANSWER],
            ).count()
            # Only identical repeats are capped: a change of what the roll-call shows (from
            # "need help" to "safe", a new note or place) is always on record, whoever holds
            # the link.
            logged = repeats < MAX_REPEAT_ANSWERS or before != after
        if logged:
            AlertEvent.objects.create(
                alert_id=delivery.alert_id,
                delivery=delivery,
                kind=_event_kind(recorded=bool(recorded), late=late),
                message=_event_message(delivery, answer, note, recorded=bool(recorded), late=late),
                data={**data, "from": delivery.state} if recorded else data,
            )
        if recorded:
            _cancel_pending_escalations(delivery=delivery, now=now)
    delivery.refresh_from_db()
    return AckResult(delivery=delivery, recorded=bool(recorded), answer=answer, late=late)


# The older name, kept for callers written before notes, locations and replies.
delivery_acknowledge = delivery_answer


def _event_kind(*, recorded: bool, late: bool) -> str:
    if recorded:
        return AlertEvent.Kind.ACKNOWLEDGED
    return AlertEvent.Kind.LATE_ANSWER if late else AlertEvent.Kind.ANSWERED_AGAIN


def _event_message(
    delivery: Delivery, answer: str, note: str, *, recorded: bool, late: bool
) -> str:
    text = f"{delivery.contact_name}: {Delivery.Answer(answer).label}"
    if late:
        text += " (after the alert closed)"
    elif not recorded:
        text += " (an earlier answer stands)"
    if note:
        text += f" — “{note[:300]}”"
    return text[:500]


def _cancel_pending_escalations(*, delivery: Delivery, now: datetime) -> None:
    # ESCALATION HOOK (issue 16, item 2) — the single call site: a recipient's first answer
    # while the alert is open cancels the escalations still pending for them and stops the
    # escalation once the step's rule is met. After the commit, in a transaction of its own: it
    # then takes the alert row before any delivery row, the order the runner and the close use.
    # If the process dies before it runs, the runner checks the stop rule before the next wave.
    alert_id = delivery.alert_id
    transaction.on_commit(lambda: escalation_on_answer(alert_id=alert_id, now=now), robust=True)
