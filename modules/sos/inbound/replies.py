"""Apply an inbound SMS or email reply, once per provider message id.

SMS replies are matched by the sender's number (E.164) to the delivery of the most recent
OPEN alert sent to that number; when the number has several open alerts, the reply answers
the latest and the confirmation says so. With no open alert, the number's latest alert whose
links still take answers (SOS_ACK_MAX_AGE_DAYS) takes it as a late answer, as links and email
replies do. Email replies are matched by the delivery's Reply-To
address or the acknowledgement link quoted in the body, and answer that delivery (after the
alert closed, as a late answer: acks.py).

Opt-out (carriers' rules): STOP and the other opt-out keywords record the number (SmsOptOut,
per number: every contact method with it, now or later, shows `opted_out_at`); the dispatcher
then refuses to send to it ("recipient opted out (STOP)"); START/YES/UNSTOP clear it. No
confirmation is sent by us for either: AWS End User Messaging and Twilio answer these
keywords themselves, and refuse our messages to a number that just opted out. HELP with an
open alert is "need help"; without one it is the carriers' info keyword and is answered with
the info text.

The confirmation text (`InboundOutcome.reply`) goes back in Twilio's TwiML answer, or by SNS
Publish (sms_reply.py) for SNS; nothing is answered to a number that opted out.

Every message that matches an alert is logged on it as a `reply` event (channel, sender,
text bounded); messages from unknown senders are logged and otherwise ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from modules.sos.acks import delivery_answer, delivery_from_ack_token
from modules.sos.answers import AckKind, alert_ack_kind, answer_choices
from modules.sos.channels.sms import normalize_phone
from modules.sos.errors import AckLinkInvalid
from modules.sos.inbound.keywords import Intent, ParsedReply, first_line, parse_reply
from modules.sos.inbound.mail import ReceivedMail, delivery_id_from_address
from modules.sos.models import (
    Alert,
    AlertEvent,
    ContactMethod,
    Delivery,
    InboundMessage,
    SmsOptOut,
)

logger = logging.getLogger("modules.sos.inbound")
TEXT_MAX = 500


@dataclass(frozen=True)
class InboundOutcome:
    """What a reply did. `reply`: the text to answer the sender with ("" for nothing)."""

    outcome: str  # answered, answered_again, late, noted, opted_out, opted_in, info, ignored
    reply: str = ""
    duplicate: bool = False
    alert_id: int | None = None
    delivery_id: int | None = None


def _claim(provider: str, message_id: str, sender: str, body: str) -> InboundMessage | None:
    """The row that makes this message applied once; None when it was seen before."""
    try:
        with transaction.atomic():
            return InboundMessage.objects.create(
                provider=provider,
                message_id=message_id.replace("\x00", "")[:200],
                sender=sender.replace("\x00", "")[:320],
                body=body.replace("\x00", "")[:1000],
            )
    except IntegrityError:
        return None


def _duplicate(provider: str, message_id: str) -> InboundOutcome:
    key = message_id.replace("\x00", "")[:200]
    seen = InboundMessage.objects.filter(provider=provider, message_id=key).first()
    logger.info("Inbound %s message %s seen before: not applied again", provider, message_id)
    return InboundOutcome(
        outcome=seen.outcome if seen else "",
        duplicate=True,
        alert_id=seen.alert_id if seen else None,
        delivery_id=seen.delivery_id if seen else None,
    )


def _finish(record: InboundMessage, result: InboundOutcome) -> InboundOutcome:
    record.outcome = result.outcome
    record.alert_id = result.alert_id
    record.delivery_id = result.delivery_id
    record.save(update_fields=["outcome", "alert", "delivery"])
    return result


def _log_reply(
    delivery: Delivery, *, channel: str, provider: str, sender: str, text: str, outcome: str
) -> None:
    shown = " ".join(text.replace("\x00", "").split())[:TEXT_MAX]
    AlertEvent.objects.create(
        alert_id=delivery.alert_id,
        delivery=delivery,
        kind=AlertEvent.Kind.REPLY,
        message=f"{delivery.contact_name} replied by {channel}: {shown}"[:500],
        data={
            "channel": channel,
            "provider": provider,
            "from": sender[:320],
            "text": shown,
            "outcome": outcome,
        },
    )


def _answer_for(alert: Alert, intent: Intent) -> str:
    """1/SAFE: the alert's first choice (safe; on it), 2/HELP: its second (need help; can't
    help); an alert with one choice ("Acknowledge") takes HELP as need help."""
    choices = [value for value, _ in answer_choices(alert)]
    if intent == Intent.SAFE:
        return choices[0]
    return choices[1] if len(choices) > 1 else Delivery.Answer.NEED_HELP


def _apply_answer(
    delivery: Delivery, parsed: ParsedReply, *, via: str, open_alerts: int = 1
) -> InboundOutcome:
    answer = _answer_for(delivery.alert, parsed.intent)
    result = delivery_answer(
        delivery=delivery,
        answer=answer,
        note=parsed.note,
        via=via,  # type: ignore[arg-type]
    )
    outcome = "late" if result.late else "answered" if result.recorded else "answered_again"
    first = result.delivery.answer
    reply = render_to_string(
        "sos/inbound_reply.txt",
        {
            "outcome": outcome,
            "alert": delivery.alert,
            "answer": Delivery.Answer(answer).label,
            "first": Delivery.Answer(first).label if first else "",
            "open_alerts": open_alerts,
        },
    )
    return InboundOutcome(
        outcome=outcome,
        reply=" ".join(reply.split()),
        alert_id=delivery.alert_id,
        delivery_id=delivery.pk,
    )


def _apply_note(delivery: Delivery, parsed: ParsedReply, *, via: str) -> InboundOutcome:
    """A safe keyword with text after it: the text is recorded as the recipient's note, with
    no safe answer. An earlier "need help" / "can't help" stands; otherwise the answer is
    "received" (safety not stated), which the roll-call never counts as safe."""
    if alert_ack_kind(delivery.alert) == AckKind.INCIDENT:
        # A responder's "1 looking into it" is "on it": no one's safety rides on it.
        safe = ParsedReply(Intent.SAFE, parsed.after)
        result = _apply_answer(delivery, safe, via=via)
        return InboundOutcome(
            result.outcome, result.reply, alert_id=delivery.alert_id, delivery_id=delivery.pk
        )
    standing = delivery.last_answer or delivery.answer
    urgent = (Delivery.Answer.NEED_HELP, Delivery.Answer.CANT_HELP)
    answer = standing if standing in urgent else Delivery.Answer.RECEIVED
    result = delivery_answer(
        delivery=delivery,
        answer=answer,
        note=parsed.note,
        via=via,  # type: ignore[arg-type]
    )
    return InboundOutcome(
        outcome="late" if result.late else "noted",
        reply=_text("noted", delivery.alert),
        alert_id=delivery.alert_id,
        delivery_id=delivery.pk,
    )


def _text(outcome: str, alert: Alert | None = None) -> str:
    choices = [label for _, label in answer_choices(alert)] if alert is not None else []
    context = {"outcome": outcome, "alert": alert, "choices": choices}
    return " ".join(render_to_string("sos/inbound_reply.txt", context).split())


def inbound_sms_apply(
    *, provider: str, message_id: str, sender: str, body: str, now: datetime | None = None
) -> InboundOutcome:
    """Apply one inbound SMS (see the module docstring); idempotent per (provider, id)."""
    now = now or timezone.now()
    try:
        phone = normalize_phone(sender)
    except ValueError:
        phone = ""
    with transaction.atomic():
        record = _claim(provider, message_id, phone or sender, body)
        if record is None:
            return _duplicate(provider, message_id)
        if not phone:
            logger.info("Inbound SMS %s from a sender that is no phone number: ignored", message_id)
            return _finish(record, InboundOutcome("ignored"))
        parsed = parse_reply(body)
        methods = ContactMethod.objects.filter(kind="sms", address=phone)
        open_deliveries = Delivery.objects.filter(
            kind="sms", address=phone, alert__status=Alert.Status.OPEN
        ).select_related("alert")
        delivery = open_deliveries.order_by("-alert__created_at", "-alert_id", "-id").first()
        is_open = delivery is not None
        if delivery is None:
            # As for a link or an email reply: after the end, an answer is kept as late
            # (acks.py), while the number's latest alert links would still take it.
            delivery = _latest_answerable(phone, now)
        known = delivery is not None or methods.exists()
        if not known:
            logger.info("Inbound SMS %s from an unknown number: ignored", message_id)
            return _finish(record, InboundOutcome("ignored"))
        if parsed.intent == Intent.STOP:
            SmsOptOut.objects.get_or_create(number=phone, defaults={"opted_out_at": now})
            result = InboundOutcome("opted_out")
        elif parsed.intent == Intent.START:
            SmsOptOut.objects.filter(number=phone).delete()
            result = InboundOutcome("opted_in")
        elif delivery is None or parsed.intent == Intent.INFO:
            result = InboundOutcome("info", reply=_text("info"))
        elif parsed.intent in (Intent.SAFE, Intent.HELP):
            count = open_deliveries.values("alert_id").distinct().count()
            result = _apply_answer(delivery, parsed, via="sms", open_alerts=count)
            if not is_open and parsed.intent == Intent.HELP:
                # Kept as a late "need help", and answered as the carriers' info keyword.
                result = InboundOutcome(result.outcome, _text("info"))
        elif parsed.intent == Intent.NOTE:
            result = _apply_note(delivery, parsed, via="sms")
        else:
            result = InboundOutcome("noted", reply=_text("noted", delivery.alert))
        reply = result.reply
        if parsed.intent != Intent.START and SmsOptOut.objects.filter(number=phone).exists():
            reply = ""  # the provider refuses any message to a number that opted out
        result = InboundOutcome(
            result.outcome,
            reply,
            alert_id=delivery.alert_id if delivery else None,
            delivery_id=delivery.pk if delivery else None,
        )
        if delivery is not None:
            _log_reply(
                delivery,
                channel="sms",
                provider=provider,
                sender=phone,
                text=body,
                outcome=result.outcome,
            )
        logger.info("Inbound SMS %s from a known number: %s", message_id, result.outcome)
        return _finish(record, result)


def _latest_answerable(phone: str, now: datetime) -> Delivery | None:
    """The number's latest SMS delivery of an alert whose links still take answers."""
    since = now - timedelta(days=settings.SOS_ACK_MAX_AGE_DAYS)
    return (
        Delivery.objects.filter(kind="sms", address=phone, alert__created_at__gte=since)
        .select_related("alert")
        .order_by("-alert__created_at", "-alert_id", "-id")
        .first()
    )


def _mail_delivery(mail: ReceivedMail) -> Delivery | None:
    ids = [pk for pk in map(delivery_id_from_address, mail.recipients) if pk is not None]
    if ids:
        # The Reply-To mac never expires by itself: it takes answers as long as the link in
        # the same email does (SOS_ACK_MAX_AGE_DAYS), as the roll-call tells.
        since = timezone.now() - timedelta(days=settings.SOS_ACK_MAX_AGE_DAYS)
        return (
            Delivery.objects.select_related("alert")
            .filter(pk=ids[0], kind="email", alert__created_at__gte=since)
            .first()
        )
    for token in mail.ack_tokens():
        try:
            return delivery_from_ack_token(token=token)
        except AckLinkInvalid:
            continue
    return None


def inbound_email_apply(*, provider: str, message_id: str, mail: ReceivedMail) -> InboundOutcome:
    """Apply one email reply: its first own line decides (1/SAFE, 2/HELP + note), anything
    else is logged on the alert as a note. Idempotent per (provider, id)."""
    line = first_line(mail.text)
    with transaction.atomic():
        record = _claim(provider, message_id, mail.sender, line)
        if record is None:
            return _duplicate(provider, message_id)
        delivery = _mail_delivery(mail)
        if delivery is None or mail.auto_submitted:
            # RFC 3834: an auto-reply (out of office, a bounce) is nobody's answer.
            reason = "is automatic" if mail.auto_submitted else "names no delivery"
            logger.info("Inbound email %s %s: ignored", message_id, reason)
            return _finish(record, InboundOutcome("ignored"))
        parsed = parse_reply(line, channel="email")
        if parsed.intent in (Intent.SAFE, Intent.HELP):
            result = _apply_answer(delivery, parsed, via="email")
        elif parsed.intent == Intent.NOTE:
            result = _apply_note(delivery, parsed, via="email")
            result = InboundOutcome(
                result.outcome, "", alert_id=result.alert_id, delivery_id=result.delivery_id
            )
        else:
            result = InboundOutcome("noted", alert_id=delivery.alert_id, delivery_id=delivery.pk)
        shown = line or mail.subject
        if mail.sender and mail.sender.lower() != delivery.address.lower():
            shown = f"{shown} (from {mail.sender})"
        _log_reply(
            delivery,
            channel="email",
            provider=provider,
            sender=mail.sender,
            text=shown,
            outcome=result.outcome,
        )
        return _finish(record, result)


UNTIMED_PROVIDER = "twilio"  # its signature has no timestamp: its rows are never pruned


class InboundPrune(NamedTuple):
    deleted: int
    older_than_days: int  # the retention applied


def inbound_messages_prune(
    *, older_than_days: int | None = None, now: datetime | None = None, chunk: int = 1000
) -> InboundPrune:
    """Delete inbound log rows older than `older_than_days` (default:
    SOS_INBOUND_RETENTION_DAYS); returns how many went and the retention applied. Raises
    ValueError for less than a day.

    At least a day is kept whatever is asked: a message SNS may still deliver (inbound/sns.py
    MAX_AGE_S) must find its row, or a redelivery would apply twice. Twilio's rows are kept:
    X-Twilio-Signature signs no time, so a captured request stays valid, and only its row stops
    a replay. The alert's own `reply` events stay.
    """
    days = settings.SOS_INBOUND_RETENTION_DAYS if older_than_days is None else older_than_days
    if days < 1:
        raise ValueError("The inbound log is kept at least 1 day (the SNS replay window).")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(
            InboundMessage.objects.filter(received_at__lt=cutoff)
            .exclude(provider=UNTIMED_PROVIDER)
            .order_by()
            .values_list("pk", flat=True)[:chunk]
        )
        if not ids:
            return InboundPrune(deleted, days)
        InboundMessage.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
