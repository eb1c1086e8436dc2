"""The SOS models' querysets: what is due, spelled once for the claim, the requeue of expired
leases, the escalation runner, the worker's sleep (seconds_until_due) and KEDA's query
(tests/ops/test_keda_query.py holds the chart's SQL to them; the PostgreSQL claim's SQL in
outbox/pg_bulk.py spells `due` again, and its tests hold it to the same rows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone

from modules.sos.escalation_models import EscalationStatus


class AlertQuerySet(models.QuerySet["Alert"]):
    """The reminders and escalation steps waiting, spelled once: the escalation runner
    (outbox/escalation.py), the worker's sleep (seconds_until_due) and KEDA's query
    (tests/ops/test_keda_query.py holds the chart's SQL to these)."""

    def reminders_pending(self) -> AlertQuerySet:
        """Open alerts whose reminders were scheduled without a plan (before plans existed, or
        written directly): the runner adopts them at next_reminder_at."""
        return self.filter(
            status=self.model.Status.OPEN,
            escalation_status=EscalationStatus.NONE,
            require_ack=True,
            next_reminder_at__isnull=False,
        )

    def escalation_pending(self) -> AlertQuerySet:
        """Open alerts whose next escalation wave waits for next_escalation_at."""
        return self.filter(
            status=self.model.Status.OPEN,
            escalation_status=EscalationStatus.ACTIVE,
            next_escalation_at__isnull=False,
        )

    def reminders_due(self, now: datetime) -> AlertQuerySet:
        return self.reminders_pending().filter(next_reminder_at__lte=now)

    def escalation_steps_due(self, now: datetime) -> AlertQuerySet:
        return self.escalation_pending().filter(next_escalation_at__lte=now)

    def escalation_due(self, now: datetime) -> AlertQuerySet:
        """Every alert a pass of the escalation runner has work for at `now`."""
        return self.reminders_due(now) | self.escalation_steps_due(now)


class DeliveryQuerySet(models.QuerySet["Delivery"]):
    def update(self, **kwargs: Any) -> int:
        # Every state change is a QuerySet.update() (claims, outcomes, acks, cancels,
        # reminders), which bypasses auto_now: stamp updated_at here so none can forget it.
        kwargs.setdefault("updated_at", timezone.now())
        return super().update(**kwargs)

    # The deliveries due, spelled once: the claim and the requeue of expired leases
    # (outbox/claims.py), the worker's sleep (seconds_until_due) and KEDA's query.

    def pending(self) -> DeliveryQuerySet:
        """Rows waiting for their next attempt, at next_attempt_at."""
        return self.filter(state=self.model.State.PENDING, next_attempt_at__isnull=False)

    def due(self, now: datetime) -> DeliveryQuerySet:
        """The rows a claim takes at `now`. No join on the alert: a due row of an alert closed
        meanwhile is claimed and cancelled, work too."""
        return self.pending().filter(next_attempt_at__lte=now)

    def leased(self) -> DeliveryQuerySet:
        """Rows a worker is sending, until lease_until."""
        return self.filter(state=self.model.State.SENDING, lease_until__isnull=False)

    def lease_expired(self, at: datetime) -> DeliveryQuerySet:
        return self.leased().filter(lease_until__lte=at)

    def work_due(self, now: datetime) -> DeliveryQuerySet:
        """Every row a dispatcher pass has work for at `now`: due, or its worker lost."""
        return self.due(now) | self.lease_expired(now)
