"""Workflows of the module: keyword-only functions named <thing>_<action>.

The UI, the API, the admin, the management commands and other modules (NetProbe monitors) all
call these, so they never disagree. Raising an alert lives in raising.py, contact and group
workflows in contacts.py, the recipients' answers in acks.py; all are re-exported here.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from modules.sos.acks import (  # noqa: F401 - re-exported workflows
    MAX_REPEAT_ANSWERS,
    AckResult,
    delivery_acknowledge,
    delivery_answer,
    delivery_from_ack_token,
)
from modules.sos.contact_import import ImportReport, contact_import_csv  # noqa: F401
from modules.sos.contacts import (  # noqa: F401 - re-exported workflows
    contact_create,
    contact_method_add,
    contact_method_update,
    contact_update,
    group_add_members,
    group_create,
    group_set_members,
    group_update,
)
from modules.sos.errors import AlertClosed, NotRetryable
from modules.sos.escalation import (  # noqa: F401 - re-exported workflows
    StepSpec,
    escalation_cancel,
    escalation_on_answer,
    escalation_policy_create,
    escalation_policy_delete,
    escalation_policy_update,
    group_set_escalation_policy,
)
from modules.sos.inbound.replies import inbound_messages_prune  # noqa: F401
from modules.sos.models import Alert, AlertEvent, Delivery
from modules.sos.outbox.wake import wake
from modules.sos.raising import (  # noqa: F401 - re-exported workflows
    AlertPreview,
    RaisedAlert,
    alert_preview,
    alert_raise,
)
from modules.sos.send_test import MethodTestResult, contact_method_test  # noqa: F401

State = Delivery.State


def _close(
    alert: Alert, *, status: str, by: AbstractBaseUser | None, note: str, now: datetime
) -> int:
    with transaction.atomic():
        closed = Alert.objects.filter(pk=alert.pk, status=Alert.Status.OPEN).update(
            status=status,
            closed_at=now,
            closed_by=by,
            next_reminder_at=None,
            next_escalation_at=None,
        )
        if not closed:
            raise AlertClosed(f"Alert #{alert.pk} is already {alert.status}.")
        stopped = Delivery.objects.filter(alert=alert, state=State.PENDING).update(
            state=State.CANCELLED, closed_at=now, next_attempt_at=None
        )
        stopped += Delivery.objects.filter(
            alert=alert, state=State.SENDING, lease_until__lt=now
        ).update(state=State.CANCELLED, closed_at=now, lease_token="", lease_until=None)
        in_flight = Delivery.objects.filter(alert=alert, state=State.SENDING).count()
        kind = AlertEvent.Kind.CANCELLED if status == "cancelled" else AlertEvent.Kind.RESOLVED
        AlertEvent.objects.create(
            alert=alert,
            kind=kind,
            actor=by,
            message=(note or f"{kind.label}: {stopped} deliveries not sent")[:500],
            data={"cancelled_deliveries": stopped, "in_flight": in_flight},
        )
    alert.refresh_from_db()
    return stopped


def alert_cancel(
    *, alert: Alert, by: AbstractBaseUser | None = None, now: datetime | None = None
) -> int:
    """Cancel what is not yet sent (in-flight sends finish); returns the deliveries stopped."""
    return _close(alert, status=Alert.Status.CANCELLED, by=by, note="", now=now or timezone.now())


def alert_resolve(
    *,
    alert: Alert | None = None,
    dedup_key: str | None = None,
    by: AbstractBaseUser | None = None,
    note: str = "",
    now: datetime | None = None,
) -> Alert | None:
    """Close an alert because the cause is gone (a NetProbe monitor recovered): stops sends
    and reminders. With `dedup_key`, resolves the open alert of that key; None if there is none.
    """
    if alert is None:
        alert = Alert.objects.filter(dedup_key=dedup_key or "", status=Alert.Status.OPEN).first()
        if alert is None or not dedup_key:
            return None
    _close(alert, status=Alert.Status.RESOLVED, by=by, note=note, now=now or timezone.now())
    return alert


def delivery_retry(
    *, delivery: Delivery, by: AbstractBaseUser | None = None, now: datetime | None = None
) -> Delivery:
    """Send a failed delivery again (after fixing its address or the server), from attempt 1."""
    now = now or timezone.now()
    with transaction.atomic():
        # Lock the alert, then update without a join (see acks.delivery_answer: PostgreSQL does
        # not re-check a joined condition after a lock wait, so a close could slip in between).
        status = (
            Alert.objects.select_for_update(no_key=True)
            .filter(pk=delivery.alert_id)
            .values_list("status", flat=True)
            .first()
        )
        updated = 0
        if status == Alert.Status.OPEN:
            updated = Delivery.objects.filter(pk=delivery.pk, state=State.FAILED).update(
                state=State.PENDING, attempts=0, next_attempt_at=now, closed_at=None
            )
        if not updated:
            raise NotRetryable("Only failed deliveries of open alerts can be retried.")
        AlertEvent.objects.create(
            alert_id=delivery.alert_id,
            delivery=delivery,
            kind=AlertEvent.Kind.RETRIED,
            actor=by,
            message=f"Retry requested for {delivery.contact_name}",
            data={"from": State.FAILED, "to": State.PENDING},
        )
        transaction.on_commit(wake)
    delivery.refresh_from_db()
    return delivery
