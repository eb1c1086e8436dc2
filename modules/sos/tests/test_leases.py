"""Leases: a crashed worker's rows come back exactly once; a stale worker cannot overwrite;
concurrent dispatchers claim disjoint rows."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from modules.sos import services
from modules.sos.channels import ChannelError
from modules.sos.models import AlertEvent, Contact, ContactMethod, Delivery, Group
from modules.sos.outbox.claims import Outcome, PassReport, claim_due, record_outcomes


def test_a_crash_mid_send_resends_exactly_once_after_the_lease_expires(
    make_contact, receiver, dispatch, settings
):
    make_contact("Bot", webhook=receiver.url(), groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    now = timezone.now()
    (_job,) = claim_due(now=now, limit=10)  # a worker claims the row, then dies
    assert alert.deliveries.get().state == "sending"
    dispatch(now=now + timedelta(seconds=30))  # lease still held: nobody touches the row
    assert receiver.requests == []
    later = now + timedelta(seconds=settings.SOS_LEASE_S + 1)
    report = dispatch(now=later)
    assert report.expired == 1
    assert report.sent == 1
    delivery = alert.deliveries.get()
    assert delivery.state == "sent"
    assert delivery.attempts == 2
    dispatch(now=later + timedelta(minutes=10))
    assert len(receiver.requests) == 1
    kinds = list(alert.events.values_list("kind", flat=True))
    assert kinds == ["raised", "lease_expired", "attempt"]


def test_a_worker_that_lost_its_lease_cannot_overwrite_the_outcome(
    make_contact, receiver, dispatch, settings
):
    make_contact("Bot", webhook=receiver.url(), groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    now = timezone.now()
    (slow_job,) = claim_due(now=now, limit=10)  # a worker stalls past its lease
    dispatch(now=now + timedelta(seconds=settings.SOS_LEASE_S + 1))
    assert alert.deliveries.get().state == "sent"
    report = PassReport()
    late = Outcome(slow_job, None, ChannelError("HTTP 500", permanent=True), 10)
    record_outcomes([late], now=timezone.now(), report=report)
    assert report.stale == 1
    delivery = alert.deliveries.get()
    assert delivery.state == "sent"
    assert delivery.last_error == ""
    stale = alert.events.filter(kind="attempt").order_by("id").last()
    assert stale.data["stale"] is True
    assert ContactMethod.objects.get().last_error == ""


def test_a_lease_that_expires_on_the_last_attempt_fails_the_row(make_contact, settings):
    from modules.sos.outbox.claims import requeue_expired_leases

    settings.SOS_MAX_ATTEMPTS = 1
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    now = timezone.now()
    claim_due(now=now, limit=10)
    assert requeue_expired_leases(now=now + timedelta(seconds=settings.SOS_LEASE_S + 1)) == 1
    delivery = alert.deliveries.get()
    assert delivery.state == "failed"
    assert "outcome is unknown" in delivery.last_error


def test_a_cancelled_alert_does_not_come_back_when_a_lease_expires(make_contact, settings):
    from modules.sos.outbox.claims import requeue_expired_leases

    make_contact("Ann", email="ann@example.com", groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    now = timezone.now()
    claim_due(now=now, limit=10)
    services.alert_cancel(alert=alert, now=now)  # in flight: left alone by cancel
    assert alert.deliveries.get().state == "sending"
    requeue_expired_leases(now=now + timedelta(seconds=settings.SOS_LEASE_S + 1))
    assert alert.deliveries.get().state == "cancelled"


def _many(count: int, receiver_url: str | None = None) -> None:
    group = Group.objects.create(name="everyone")
    contacts = Contact.objects.bulk_create([Contact(name=f"c{i:04}") for i in range(count)])
    ContactMethod.objects.bulk_create(
        [
            ContactMethod(
                contact=c,
                kind="webhook" if receiver_url else "email",
                address=f"{receiver_url}?n={i}" if receiver_url else f"c{i}@example.com",
            )
            for i, c in enumerate(contacts)
        ]
    )
    group.members.set(contacts)


def _in_threads(count: int, target) -> list:
    results: list = [None] * count
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            start.wait()
            results[index] = target()
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_at_once_get_disjoint_rows():
    _many(120)
    services.alert_raise(message="Fire", groups=["everyone"])
    now = timezone.now()

    def claim_all() -> list[int]:
        mine: list[int] = []
        while jobs := claim_due(now=now, limit=7):
            mine += [j.delivery_id for j in jobs]
        return mine

    first, second = _in_threads(2, claim_all)
    # Correctness, not fairness: one worker may well take every row.
    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(Delivery.objects.values_list("id", flat=True))
    assert Delivery.objects.filter(state="sending").count() == 120


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_send_every_message_exactly_once(receiver, settings):
    from modules.sos.outbox.dispatch import process_due_deliveries

    _many(80, receiver.url())
    services.alert_raise(message="Fire", groups=["everyone"])
    reports = _in_threads(2, lambda: process_due_deliveries(workers=3))
    assert sum(r.sent for r in reports) == 80
    keys = Counter(r.headers["Idempotency-Key"] for r in receiver.requests)
    assert len(keys) == 80
    assert set(keys.values()) == {1}
    assert Delivery.objects.filter(state="sent").count() == 80
    assert AlertEvent.objects.filter(kind="attempt").count() == 80
