"""The life-safety lane: a critical alert's first sends go before everything, reminders and
escalation sends after the first sends of their severity, and the rate governor lets a
critical take the next turn instead of queueing behind lower sends already waiting."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

from django.core.cache.backends.locmem import LocMemCache
from django.utils import timezone

from modules.sos import services
from modules.sos.lanes import delivery_priority
from modules.sos.models import Delivery
from modules.sos.outbox.claims import claim_due
from modules.sos.outbox.escalation import resend_delivered
from modules.sos.outbox.governor import Governor
from modules.sos.tests.test_governor import drain


def test_priority_ranks_critical_first_sends_first_and_resends_after_first_sends():
    order = [
        delivery_priority(severity, resend=resend)
        for severity in ("critical", "warning", "info")
        for resend in (False, True)
    ]
    assert order == [0, 1, 2, 3, 4, 5]


def test_raised_alerts_get_their_severitys_first_send_priority(make_contact):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    for severity, priority in (("critical", 0), ("warning", 2), ("info", 4)):
        alert = services.alert_raise(message=severity, groups=["ops"], severity=severity).alert
        assert alert.deliveries.get().priority == priority


def test_a_reminder_ranks_after_first_sends_of_its_severity(make_contact, dispatch):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    critical = services.alert_raise(message="Fire", groups=["ops"]).alert
    info = services.alert_raise(message="Drill", groups=["ops"], severity="info").alert
    dispatch()
    now = timezone.now()
    for alert in (critical, info):
        assert resend_delivered(alert.deliveries.all(), now=now) == 1
    assert critical.deliveries.get().priority == 1
    assert info.deliveries.get().priority == 5
    # Twice reminded: still one step after the first sends, never drifting further.
    dispatch()
    resend_delivered(critical.deliveries.all(), now=timezone.now())
    assert critical.deliveries.get().priority == 1


def test_a_critical_first_send_is_claimed_before_a_backlog_of_reminders_and_info(make_contact):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    now = timezone.now()
    for n in range(5):
        services.alert_raise(message=f"Drill {n}", groups=["ops"], severity="info", now=now)
    reminder = services.alert_raise(message="Smoke", groups=["ops"], now=now).alert
    reminder.deliveries.update(state=Delivery.State.SENT)
    resend_delivered(reminder.deliveries.all(), now=now)
    later = now + timedelta(seconds=30)  # raised last, due last
    critical = services.alert_raise(message="Fire", groups=["ops"], now=later).alert
    first, second, *rest = claim_due(now=later, limit=10)
    assert (first.alert_id, second.alert_id) == (critical.pk, reminder.pk)
    assert {job.severity for job in rest} == {"info"}


def test_the_governor_gives_a_critical_the_next_turn_ahead_of_waiting_lower_sends():
    gov = Governor({"webhook": 5}, cache=LocMemCache(f"lane-{uuid.uuid4()}", {}))
    grants: list[tuple[float, str]] = []
    lock, stop = threading.Lock(), threading.Event()

    def low() -> None:
        while not stop.is_set():
            if gov.acquire(kind="webhook", sender="h", cost=1, lane=5, deadline=time.time() + 5):
                with lock:
                    grants.append((time.monotonic(), "low"))

    threads = [threading.Thread(target=low) for _ in range(6)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.2)  # six lower sends now compete for every turn
        asked = time.monotonic()
        assert gov.acquire(kind="webhook", sender="h", cost=1, lane=0, deadline=time.time() + 5)
        granted = time.monotonic()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    overtaken_by = [t for t, _ in grants if asked < t < granted]
    assert len(overtaken_by) <= 1  # at most the turn already under way
    # The lower sends did not all stop: the critical took one turn, not the budget.
    assert sum(1 for t, _ in grants if t > granted) >= 1


def test_a_critical_raised_during_a_backlog_reaches_the_receiver_ahead_of_it(
    make_contact, receiver, dispatch, settings
):
    settings.SOS_RATE_WEBHOOK = 5
    settings.SOS_LEASE_S = 12  # two sends per worker claimed at once (leases.py)
    arrivals: list[str] = []
    receiver.on_request = lambda item: arrivals.append(item.json()["severity"])
    for n in range(30):
        make_contact(f"Bot {n}", webhook=receiver.url(f"/bot/{n}"), groups=["bots"])
    make_contact("Duty", webhook=receiver.url("/duty"), groups=["duty"])
    services.alert_raise(message="Weekly drill", groups=["bots"], severity="info")
    fire = services.alert_raise(message="Fire", groups=["duty"]).alert
    # Raised while the drill's backlog is being sent: due one second into the pass.
    fire.deliveries.update(next_attempt_at=timezone.now() + timedelta(seconds=1))
    report = drain(dispatch)
    assert report.sent == 31
    position = arrivals.index("critical")
    assert len(arrivals) - position - 1 >= 10  # most of the backlog went after it


def test_an_escalation_steps_new_delivery_ranks_after_first_sends(make_contact):
    from modules.sos.recipients import Recipient, build_deliveries

    ann = make_contact("Ann", email="ann@example.com", groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    method = ann.methods.get()
    (row,) = build_deliveries(alert, [Recipient(ann, method)], now=timezone.now(), escalation=True)
    assert row.priority == 1
