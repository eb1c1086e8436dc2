"""Recipients' answers through the signed acknowledgement link: the first answer wins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from modules.sos.ack_links import read_ack_token
from modules.sos.errors import AckLinkInvalid, InvalidAlert
from modules.sos.models import AlertEvent, Delivery

State = Delivery.State
# Later answers on one delivery are logged up to this many, then ignored: the public ack
# link must not let anyone who holds it grow the event log without bound.
MAX_REPEAT_ANSWERS = 5


@dataclass(frozen=True)
class AckResult:
    delivery: Delivery
    recorded: bool  # False: an earlier answer stands, this one was only logged
    answer: str


def delivery_from_ack_token(*, token: str) -> Delivery:
    """The delivery a signed link names; raises AckLinkInvalid (tampered, expired, unknown)."""
    pk = read_ack_token(token)
    delivery = Delivery.objects.select_related("alert").filter(pk=pk).first()
    if delivery is None:
        raise AckLinkInvalid("This acknowledgement link is no longer valid.")
    return delivery


def delivery_acknowledge(
    *,
    delivery: Delivery,
    answer: str,
    remote_addr: str = "",
    user_agent: str = "",
    now: datetime | None = None,
) -> AckResult:
    """Record a recipient's answer; the first answer wins, later ones are logged only, up to
    MAX_REPEAT_ANSWERS per delivery (then ignored)."""
    if answer not in Delivery.Answer.values:
        raise InvalidAlert(f"answer must be one of {', '.join(Delivery.Answer.values)}")
    now = now or timezone.now()
    data = {
        "answer": answer,
        "ip": remote_addr.replace("\x00", "")[:64],
        "user_agent": user_agent.replace("\x00", "")[:200],  # jsonb cannot hold \u0000
    }
    with transaction.atomic():
        recorded = Delivery.objects.filter(pk=delivery.pk, answer="").update(
            answer=answer, state=State.ACKNOWLEDGED, acknowledged_at=now, next_attempt_at=None
        )
        logged = bool(recorded)
        if not recorded:
            # Locked so that concurrent repeats are counted one after the other (PostgreSQL).
            list(Delivery.objects.select_for_update().filter(pk=delivery.pk).values("pk"))
            repeats = AlertEvent.objects.filter(
                delivery=delivery, kind=AlertEvent.Kind.ANSWERED_AGAIN
            ).count()
            logged = repeats < MAX_REPEAT_ANSWERS
        if logged:
            label = Delivery.Answer(answer).label
            AlertEvent.objects.create(
                alert_id=delivery.alert_id,
                delivery=delivery,
                kind=AlertEvent.Kind.ACKNOWLEDGED if recorded else AlertEvent.Kind.ANSWERED_AGAIN,
                message=f"{delivery.contact_name}: {label}"
                + ("" if recorded else " (an earlier answer stands)"),
                data={**data, "from": delivery.state} if recorded else data,
            )
    delivery.refresh_from_db()
    return AckResult(delivery=delivery, recorded=bool(recorded), answer=answer)
