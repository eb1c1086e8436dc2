"""What the alert page shows: the stacked delivery bar and its headline, the event log with
the recipient of every delivery event, and the version tag that lets the live part answer
204 when nothing changed.

The headline counts recipients reached, never a "100 %" that hides failures: "3 of 4 reached,
1 failed".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, Count, F, Max, Q, QuerySet, When

from modules.sos.answers import (
    LABELS,
    TONES,
    AckKind,
    Status,
    alert_ack_kind,
    counted_statuses,
)
from modules.sos.models import Alert, AlertEvent, Delivery, EscalationPolicy
from modules.sos.outbox.outcomes import CHANNEL_NAMES
from modules.sos.selectors import ANSWERS, RESENT_STATES, STATES

State = Delivery.State
Answer = Delivery.Answer
BAR_UNITS = 1000  # the SVG's width in user units; a segment of n rows is 1000 * n / total
MIN_UNITS = 6  # a lone failure among thousands still shows as a sliver


def _answer_word(label: str) -> str:
    """A roll-call label as a count reads it: "Received, safety not stated" -> "received"
    (inside "(2 safe, 1 received)" the rest of it would read as another count)."""
    return label.split(",", 1)[0].lower()


# How a count of answers reads, in the roll-call's words (answers.LABELS): "2 safe, 1 received";
# "1 on it, 1 acknowledged" on an incident.
ANSWER_WORDS = {
    kind: {
        Answer(status.value): _answer_word(label)
        for status, label in labels.items()
        if status.value in Answer.values
    }
    for kind, labels in LABELS.items()
}

# (segment, label, tone): drawn left to right in this order.
SEGMENTS = (
    ("need_help", "need help", "down"),
    ("acknowledged", "acknowledged", "ok"),
    ("sent", "sent, no answer yet", "sent"),
    ("failed", "failed", "failed"),
    ("pending", "going out", "warn"),
    ("cancelled", "cancelled", "idle"),
)


@dataclass(frozen=True)
class Segment:
    key: str
    label: str
    tone: str
    count: int
    x: int = 0
    width: int = 0
    detail: str = ""  # "2 safe, 1 received" for the acknowledged segment

    @property
    def text(self) -> str:
        return f"{self.count} {self.label}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class Bar:
    total: int
    reached: int
    failed: int
    going_out: int
    cancelled: int
    need_help: int
    segments: list[Segment] = field(default_factory=list)

    @property
    def percent(self) -> int:
        """Recipients reached, rounded down: 99 % until the last one is."""
        return 100 if self.total == 0 else int(100 * self.reached / self.total)

    @property
    def finished(self) -> bool:
        return self.going_out == 0

    @property
    def headline(self) -> str:
        if not self.total:
            return "No deliveries"
        parts = [f"{self.reached} of {self.total} reached"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.going_out:
            parts.append(f"{self.going_out} going out")
        if self.cancelled:
            parts.append(f"{self.cancelled} cancelled")
        if self.need_help:
            parts.append(f"{self.need_help} need{'s' if self.need_help == 1 else ''} help")
        return ", ".join(parts)

    @property
    def tone(self) -> str:
        """Green only when everyone was reached and nobody needs help."""
        if self.failed or self.need_help:
            return "down"
        if self.going_out or self.reached < self.total:
            return "warn"
        return "ok"

    @property
    def shown(self) -> list[Segment]:
        return [s for s in self.segments if s.count]

    @property
    def description(self) -> str:
        """The bar in words, for screen readers (the SVG's aria-label)."""
        return f"{self.headline}: " + "; ".join(s.text for s in self.shown) if self.shown else ""


def delivery_bar(
    counts: dict[str, int],
    acknowledged: dict[str, int] | None = None,
    resent: dict[str, int] | None = None,
    kind: AckKind = AckKind.SAFETY,
) -> Bar:
    """The bar of an alert from its per-state counts; `acknowledged` splits the acknowledged
    rows by their latest answer (without it, they are one segment), named in the words of the
    alert's `kind`. `resent`: rows per state that re-send a message delivered before; their
    person was reached, so they count as sent (a reminder going out or failing does not
    un-reach anyone)."""
    words = ANSWER_WORDS[kind]
    acknowledged = acknowledged or {}
    counts = dict(counts)
    for state, n in (resent or {}).items():
        counts[state] = counts.get(state, 0) - n
        counts[State.SENT] = counts.get(State.SENT, 0) + n
    need_help = acknowledged.get(Answer.NEED_HELP, 0)
    others = {a: n for a, n in acknowledged.items() if n and a != Answer.NEED_HELP}
    detail = ", ".join(f"{n} {words.get(a, a or 'no answer')}" for a, n in others.items())
    values = {
        "need_help": need_help,
        "acknowledged": counts.get(State.ACKNOWLEDGED, 0) - need_help,
        "sent": counts.get(State.SENT, 0),
        "failed": counts.get(State.FAILED, 0),
        "pending": counts.get(State.PENDING, 0) + counts.get(State.SENDING, 0),
        "cancelled": counts.get(State.CANCELLED, 0),
    }
    total = sum(values.values())
    widths = _widths([values[key] for key, _, _ in SEGMENTS], total)
    segments, x = [], 0
    for (key, label, tone), width in zip(SEGMENTS, widths, strict=True):
        extra = detail if key == "acknowledged" else ""
        segments.append(Segment(key, label, tone, values[key], x, width, extra))
        x += width
    return Bar(
        total=total,
        reached=values["need_help"] + values["acknowledged"] + values["sent"],
        failed=values["failed"],
        going_out=values["pending"],
        cancelled=values["cancelled"],
        need_help=need_help,
        segments=segments,
    )


def alert_progress(
    counts: dict[str, int], need_help: int = 0, resent: dict[str, int] | None = None
) -> dict[str, Any]:
    """The API's `progress`, from the same bar the page draws: `percent` is recipients
    reached (sent or answered), never 100 with failures; `done` counts rows no longer going
    out (kept for clients that read it)."""
    bar = delivery_bar(counts, {Answer.NEED_HELP: need_help}, resent)
    return {
        "total": bar.total,
        "done": bar.total - bar.going_out,
        "percent": bar.percent,
        "finished": bar.finished,
        "reached": bar.reached,
        "failed": bar.failed,
    }


def _widths(values: list[int], total: int) -> list[int]:
    """Widths in BAR_UNITS that add up to it exactly (largest remainder), every non-zero
    value at least MIN_UNITS wide."""
    if not total:
        return [0] * len(values)
    exact = [BAR_UNITS * v / total for v in values]
    widths = [max(MIN_UNITS, int(e)) if v else 0 for v, e in zip(values, exact, strict=True)]
    left = BAR_UNITS - sum(widths)
    order = sorted(range(len(values)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    while left > 0:
        for i in order:
            if values[i] and left > 0:
                widths[i] += 1
                left -= 1
    while left < 0:  # the minimums took room: take it back from the widest
        widest = max(range(len(widths)), key=widths.__getitem__)
        widths[widest] -= 1
        left += 1
    return widths


def _latest_answer() -> Case:
    # `answer` keeps the first answer, `last_answer` the latest (acks.py): "safe" and then
    # "I need help" needs help.
    return Case(When(last_answer="", then=F("answer")), default=F("last_answer"))


def alert_tally(alert: Alert) -> dict[str, Any]:
    """Everything the live part depends on in the deliveries, in one query: per-state counts,
    latest answers of acknowledged rows, answers, notes, late answers, the newest change."""
    aggregates: dict[str, Any] = {f"n_{s}": Count("id", filter=Q(state=s)) for s in STATES}
    aggregates.update(
        {
            f"ack_{a}": Count("id", filter=Q(state=State.ACKNOWLEDGED, latest=a))
            for a in [*ANSWERS, ""]
        }
    )
    # Answers by the latest one given, as the bar and the roll-call read them.
    aggregates.update({f"a_{a}": Count("id", filter=Q(latest=a)) for a in ANSWERS})
    aggregates.update(
        changed=Max("updated_at"),
        answered=Max("answered_at"),
        notes=Count("id", filter=~Q(answer_note="")),
        late=Count("id", filter=Q(answered_late=True)),
        escalated=Count("id", filter=Q(escalation=True)),
    )
    aggregates.update(
        {f"r_{s}": Count("id", filter=Q(state=s, sent_at__isnull=False)) for s in RESENT_STATES}
    )
    return (
        Delivery.objects.filter(alert=alert)
        .annotate(latest=_latest_answer())
        .order_by()
        .aggregate(**aggregates)
    )


def tally_counts(tally: dict[str, Any]) -> dict[str, int]:
    return {s: tally[f"n_{s}"] for s in STATES}


def tally_answers(tally: dict[str, Any]) -> dict[str, int]:
    return {a: tally[f"a_{a}"] for a in ANSWERS}


def tally_bar(tally: dict[str, Any], kind: AckKind = AckKind.SAFETY) -> Bar:
    acknowledged = {a: tally[f"ack_{a}"] for a in [*ANSWERS, ""]}
    resent = {s: tally[f"r_{s}"] for s in RESENT_STATES}
    return delivery_bar(tally_counts(tally), acknowledged, resent, kind)


@dataclass(frozen=True)
class AnswerCount:
    answer: str
    word: str
    count: int
    tone: str


def answer_counts(alert: Alert, tally: dict[str, Any]) -> list[AnswerCount]:
    """The "Latest answers" of the alert page: the answers the alert asks for, even at zero,
    and any other given (answers.counted_statuses), so an incident shows "on it" and "can't
    help", never "safe" or "need help"; deliveries, not people (the roll-call counts people)."""
    given = tally_answers(tally)
    words = ANSWER_WORDS[alert_ack_kind(alert)]
    return [
        AnswerCount(status.value, words[status], given.get(status, 0), TONES[status])
        for status in counted_statuses(alert, given)
        if status != Status.NO_ANSWER  # the bar's "sent, no answer yet" counts those
    ]


def live_version(alert: Alert, tally: dict[str, Any], *extra: Any) -> str:
    """A short tag of what the live part shows; equal tags mean nothing to redraw.

    Relative times ("retry in 40 s") tick in the browser (sos.js), so the tag holds data only:
    the alert's row (status, reminders, escalation step and wave), every delivery's change,
    answer, note and late answer (through `updated_at`), and the event log.
    """
    events = (
        AlertEvent.objects.filter(alert=alert).order_by().aggregate(n=Count("id"), top=Max("id"))
    )
    row = (
        alert.status,
        alert.closed_at,
        alert.reminders_sent,
        alert.next_reminder_at,
        alert.escalated_at,
        alert.escalation_status,
        alert.escalation_step,
        alert.escalation_waves,
        alert.next_escalation_at,
        alert.dedup_count,
        alert.escalation_policy_id,
    )
    # The escalation line names the policy and its steps: an edit of the policy is a change.
    policy = None
    if alert.escalation_policy_id:
        rows = EscalationPolicy.objects.filter(pk=alert.escalation_policy_id)
        policy = rows.values_list("name", "updated_at").first()
    key = repr((row, policy, sorted(tally.items()), events["n"], events["top"], *extra))
    key = key.encode()
    return hashlib.sha256(key).hexdigest()[:16]


@dataclass(frozen=True)
class EventRow:
    event: AlertEvent
    recipient: str  # "Ann Smith" or ""
    channel: str  # "Email" or ""


def event_rows(alert: Alert, limit: int) -> list[EventRow]:
    """The newest events, each delivery event with its recipient: named in the event's data by
    the engine, or, for events written before it did, the delivery's own snapshot (joined, so
    the page makes one query however many events it shows)."""
    events: QuerySet[AlertEvent] = (
        AlertEvent.objects.filter(alert=alert)
        .select_related("actor", "delivery")
        .order_by("-id")[:limit]
    )
    rows = []
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        name, kind = str(data.get("recipient") or ""), str(data.get("channel") or "")
        if event.delivery is not None:
            name = name or event.delivery.contact_name
            kind = kind or event.delivery.kind
        rows.append(EventRow(event, name, CHANNEL_NAMES.get(kind, kind) if name else ""))
    return rows
