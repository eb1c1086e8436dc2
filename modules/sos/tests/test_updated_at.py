"""Delivery.updated_at moves with every state change, though they are all QuerySet.update()."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from modules.sos import services
from modules.sos.models import Alert, Delivery
from modules.sos.outbox.claims import claim_due, requeue_expired_leases
from modules.sos.outbox.reminders import alerts_remind_due
from modules.sos.tests.peers import Reply

LONG_AGO = timezone.now() - timedelta(days=1)


def backdate(alert: Alert) -> None:
    # An explicit updated_at is kept as given: this is how the test turns the clock back.
    alert.deliveries.update(updated_at=LONG_AGO)


def stamps(alert: Alert) -> dict[str, datetime]:
    return {d.contact_name: d.updated_at for d in alert.deliveries.all()}


def assert_fresh(alert: Alert, since: datetime) -> None:
    for name, stamp in stamps(alert).items():
        assert stamp >= since, f"{name}: updated_at {stamp} did not move"


@pytest.fixture
def alert(make_contact, receiver) -> Alert:
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    make_contact("Bot", webhook=receiver.url(), groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"], require_ack=True).alert
    backdate(alert)
    return alert


def test_stamps_updated_at_on_send_ack_and_cancel(alert, dispatch, operator_api):
    start = timezone.now()
    dispatch()
    assert set(alert.deliveries.values_list("state", flat=True)) == {"sent"}
    assert_fresh(alert, start)

    backdate(alert)
    start = timezone.now()
    services.delivery_acknowledge(delivery=alert.deliveries.get(contact_name="Ann"), answer="safe")
    assert stamps(alert)["Ann"] >= start
    assert stamps(alert)["Bot"] == LONG_AGO  # only the row that changed

    listed = operator_api.get(f"/api/sos/deliveries/?alert={alert.pk}&answer=safe").json()
    (row,) = listed["results"]
    assert (
        datetime.fromisoformat(row["updated_at"])
        >= start
        > datetime.fromisoformat(row["created_at"])
    )

    other = services.alert_raise(message="Flood", groups=["ops"]).alert
    backdate(other)
    start = timezone.now()
    assert services.alert_cancel(alert=other) == 2
    assert set(other.deliveries.values_list("state", flat=True)) == {"cancelled"}
    assert_fresh(other, start)


def test_stamps_updated_at_on_claims_retries_and_expired_leases(
    alert, receiver, dispatch, settings
):
    receiver.script("/hook", Reply(503))
    start = timezone.now()
    claim_due(now=start, limit=10)
    assert set(alert.deliveries.values_list("state", flat=True)) == {"sending"}
    assert_fresh(alert, start)

    backdate(alert)
    start = timezone.now()
    later = start + timedelta(hours=1)
    assert requeue_expired_leases(now=later) == 2
    assert_fresh(alert, start)

    backdate(alert)
    start = timezone.now()
    dispatch(now=later)
    bot = alert.deliveries.get(contact_name="Bot")
    assert bot.state == "pending"  # a transient failure, retried later
    assert bot.last_error
    assert bot.updated_at >= start


def test_stamps_updated_at_on_reminders_and_operator_retries(make_contact, dispatch):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    alert = services.alert_raise(
        message="Fire", groups=["ops"], require_ack=True, reminder_interval_min=5, reminder_max=1
    ).alert
    dispatch()
    backdate(alert)
    start = timezone.now()
    assert alerts_remind_due(now=start + timedelta(minutes=6)) == 1
    assert alert.deliveries.get().round == 1
    assert_fresh(alert, start)

    Delivery.objects.filter(alert=alert).update(state="failed", updated_at=LONG_AGO)
    start = timezone.now()
    services.delivery_retry(delivery=alert.deliveries.get())
    assert_fresh(alert, start)
