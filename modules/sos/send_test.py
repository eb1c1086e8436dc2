""" "Send test": one synchronous send to one contact method, through the engine's own channel
senders (and so the egress policy), its result returned at once.

The audit trail is a test alert holding the one delivery, written already closed (resolved):
the dispatcher claims only deliveries of open alerts, so it never sends the test again, and a
worker that dies mid-send leaves a row that lease expiry marks cancelled, not one sent twice.
The alerts list and the dashboard card leave test alerts out.

The outcome is written here, not by the dispatcher's outcomes.py: a test is one attempt, so a
transient error is reported, not scheduled for a retry.

A test waits at most TEST_WAIT_S for the channel's rate governor: during a fan-out the budget
belongs to the alert, and a request must answer well inside API Gateway's 29 s. When the turn
does not come in time nothing is sent and ChannelBusy (503, Retry-After) is raised.

`ok` means a message left this server: an email accepted by a backend that keeps it in this
process (locmem, console, file; warning `email_not_delivered`) is `ok: false`, its warning
attached, and the method's last success is not updated.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from modules.sos.channels import ChannelSet
from modules.sos.errors import ChannelBusy, RecipientOptedOut
from modules.sos.models import Alert, AlertEvent, ContactMethod, Delivery, Kind, Severity
from modules.sos.outbox.claims import Outcome, Recipient, _job
from modules.sos.outbox.dispatch import default_channels, send_job
from modules.sos.preflight import ChannelWarning, channel_warnings
from modules.sos.recipients import Recipient as AlertRecipient
from modules.sos.recipients import build_deliveries

State = Delivery.State
# How long an interactive test waits for its channel's rate budget before answering "busy".
TEST_WAIT_S = 3.0
NOT_DELIVERED = "email_not_delivered"


@dataclass(frozen=True)
class MethodTestResult:
    """What one test send did. `as_dict()` is the API's answer beside the test alert's keys."""

    alert: Alert
    delivery: Delivery
    ok: bool
    error: str
    duration_ms: int
    provider_message_id: str
    warnings: list[ChannelWarning] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "error": self.error,
            "duration_ms": self.duration_ms,
            "provider_message_id": self.provider_message_id,
            "delivery": self.delivery.pk,
            "warnings": [w.as_dict() for w in self.warnings],
        }


def contact_method_test(
    *,
    method: ContactMethod,
    by: AbstractBaseUser | None = None,
    source: str = "ui",
    channels: ChannelSet | None = None,
    now: datetime | None = None,
) -> MethodTestResult:
    """Send one TEST message to `method` (even a disabled one) and wait for the outcome.

    Recorded on the method (last_success_at, or last_error unless the channel's setup is at
    fault) and as a closed test alert with one delivery and its attempt event. Raises
    RecipientOptedOut (409) for a number that texted STOP: carriers forbid sending to it.
    """
    if method.kind == Kind.SMS and method.opted_out_at is not None:
        raise RecipientOptedOut(
            f"{method.display_address} replied STOP: nothing, not even a test, is sent to it "
            "until it texts START.",
            details={"method": method.pk},
        )
    now = now or timezone.now()
    delivery = _begin(method, by=by, source=source, now=now)
    job = _job(Delivery.objects.select_related("alert", "method").get(pk=delivery.pk))
    # The row's lease (SOS_LEASE_S) guards against a dead process; the governor may make this
    # request wait only TEST_WAIT_S for the channel's turn.
    job = replace(job, lease_until=timezone.now() + timedelta(seconds=TEST_WAIT_S))
    own = channels is None
    channels = channels or default_channels()
    try:
        outcome = send_job(channels, job, needed_lease_s=0)
    finally:
        if own:
            channels.close()
    _finish(outcome, method, now=timezone.now())
    if outcome.released:
        retry = outcome.retry_at or timezone.now() + timedelta(seconds=TEST_WAIT_S)
        wait = max(1, math.ceil((retry - timezone.now()).total_seconds()))
        raise ChannelBusy(
            f"Test not sent: the {method.get_kind_display()} channel's rate budget is busy "
            f"(an alert is going out); retry in {wait} s.",
            retry_after_s=wait,
        )
    delivery.refresh_from_db()
    warnings = channel_warnings([method.kind])
    error = outcome.error.message if outcome.error else ""
    stayed = next((w for w in warnings if w.code == NOT_DELIVERED), None)
    if not error and stayed is not None:
        error = stayed.message
    return MethodTestResult(
        alert=delivery.alert,
        delivery=delivery,
        ok=not error,
        error=error,
        duration_ms=outcome.duration_ms,
        provider_message_id=delivery.provider_message_id,
        warnings=warnings,
    )


@transaction.atomic
def _begin(
    method: ContactMethod, *, by: AbstractBaseUser | None, source: str, now: datetime
) -> Delivery:
    contact = method.contact
    alert = Alert.objects.create(
        message=f"Test message for {contact.name} ({method.get_kind_display()}). "
        "No action is needed.",
        severity=Severity.INFO,
        status=Alert.Status.RESOLVED,
        closed_at=now,
        is_test=True,
        source=source[:40],
        raised_by=by,
    )
    (delivery,) = build_deliveries(alert, [AlertRecipient(contact=contact, method=method)], now=now)
    delivery.state = State.SENDING
    delivery.attempts = 1
    delivery.last_attempt_at = now
    delivery.lease_token = uuid.uuid4().hex
    # Long enough for the send's own timeout; lease expiry cancels it if this process dies.
    delivery.lease_until = now + timedelta(seconds=settings.SOS_LEASE_S)
    delivery.save()
    AlertEvent.objects.create(
        alert=alert,
        delivery=delivery,
        kind=AlertEvent.Kind.RAISED,
        actor=by,
        message=f"Test of one contact method ({source}): {Recipient(contact.name, method.kind)}",
        data={"source": source, "deliveries": 1, "test": True, "method": method.pk},
    )
    return delivery


@transaction.atomic
def _finish(outcome: Outcome, method: ContactMethod, *, now: datetime) -> None:
    job, error = outcome.job, outcome.error
    who = Recipient(job.contact_name, job.kind)
    data: dict[str, Any] = {
        "attempt": 1,
        "round": 0,
        "duration_ms": outcome.duration_ms,
        "from": State.SENDING,
        "test": True,
        **who.data(),
    }
    change: dict[str, Any]
    if outcome.released:
        reason = "not sent: the channel's rate budget is busy"
        change = {"state": State.CANCELLED, "closed_at": now, "last_error": reason}
        data.update(outcome="released", error=reason)
        text = f"{who}: test {reason}"
    elif error is None:
        provider_id = outcome.sent.provider_message_id[:300] if outcome.sent else ""
        change = {"state": State.SENT, "sent_at": now}
        change["provider_message_id"] = provider_id
        data.update(outcome="sent", provider_message_id=provider_id)
        text = f"{who}: test sent"
    else:
        change = {"state": State.FAILED, "closed_at": now, "last_error": error.message}
        data.update(outcome="permanent" if error.permanent else "transient", error=error.message)
        text = f"{who}: test failed: {error.message}"
    data["to"] = change["state"]
    Delivery.objects.filter(pk=job.delivery_id, lease_token=job.lease_token).update(
        lease_token="", lease_until=None, next_attempt_at=None, **change
    )
    AlertEvent.objects.create(
        alert_id=job.alert_id,
        delivery_id=job.delivery_id,
        kind=AlertEvent.Kind.ATTEMPT,
        message=text[:500],
        data=data,
    )
    methods = ContactMethod.objects.filter(pk=method.pk)
    delivered = not any(w.code == NOT_DELIVERED for w in channel_warnings([method.kind]))
    if error is None:
        # Not sent (busy budget) or kept in this process: the method is neither proven nor
        # broken.
        if delivered and not outcome.released:
            methods.update(last_success_at=now, last_error="", last_error_at=None)
    elif not error.configuration:  # the channel's setup, not this address, is at fault
        methods.update(last_error=error.message, last_error_at=now)
    method.refresh_from_db()
