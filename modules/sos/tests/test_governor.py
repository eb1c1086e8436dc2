"""The rate governor: messages per second per channel and sender, SMS in segments, shared
through Redis across processes, and a send that cannot get its turn within its lease is handed
back unsent. Rates are checked by counting sends per one-second window, never by exact times."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.utils import timezone

from modules.sos import services
from modules.sos.channels.base import Message, Target
from modules.sos.channels.sms import segments
from modules.sos.models import Delivery
from modules.sos.outbox.claims import PassReport
from modules.sos.outbox.dispatch import seconds_until_due
from modules.sos.outbox.governor import Budget, Governor, cost_of, get_governor, sender_of
from modules.sos.tests.peers import WebhookReceiver, free_port

ROOT = Path(__file__).resolve().parents[3]


def busiest_second(times: Sequence[float]) -> int:
    """The most events in any one-second interval (sliding, starting at an event)."""
    ordered = sorted(times)
    return max((sum(1 for t in ordered if s <= t < s + 1.0) for s in ordered), default=0)


def record_arrivals(receiver: WebhookReceiver) -> list[float]:
    times: list[float] = []
    receiver.on_request = lambda item: times.append(time.monotonic())
    return times


def drain(dispatch, *, limit_s: float = 60.0) -> PassReport:
    """Passes until nothing waits, as `sos_worker` runs them: rows handed back by a busy
    budget are due again a little later."""
    total, ends = PassReport(), time.monotonic() + limit_s
    while time.monotonic() < ends:
        total.add(dispatch())
        due = seconds_until_due()
        if due is None:
            return total
        time.sleep(min(due, 0.5))
    raise AssertionError("deliveries still waiting")


def governor(rate: float, kind: str = "webhook") -> Governor:
    return Governor({kind: rate}, cache=LocMemCache(f"gov-{uuid.uuid4()}", {}))


def test_it_lets_no_one_second_window_exceed_the_rate_across_threads():
    gov, grants, lock = governor(10), [], threading.Lock()

    def worker() -> None:
        for _ in range(5):
            assert gov.acquire(
                kind="webhook", sender="h", cost=1, lane=2, deadline=time.time() + 30
            )
            with lock:
                grants.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(grants) == 40
    assert max(grants) - min(grants) >= 3.0  # 40 sends at 10/s
    assert busiest_second(grants) <= 10 + Budget(10).tokens


def test_it_gives_each_sender_its_own_budget():
    gov = governor(2)
    started = time.monotonic()
    for sender in ("a", "b", "c", "d"):
        assert gov.acquire(kind="webhook", sender=sender, cost=1, lane=2, deadline=time.time() + 5)
    assert time.monotonic() - started < 0.4  # four first sends of four senders: no wait


def test_unlimited_kinds_never_touch_the_cache():
    class Refusing(LocMemCache):
        def add(self, *args, **kwargs):  # pragma: no cover - must not be called
            raise AssertionError("the cache was used for an unlimited kind")

    gov = Governor({"webhook": 0, "email": 14}, cache=Refusing("refusing", {}))
    assert gov.acquire(kind="webhook", sender="h", cost=1, lane=4, deadline=0)
    assert gov.acquire(kind="apprise", sender="h", cost=1, lane=4, deadline=0)


def test_a_turn_that_comes_after_the_deadline_is_refused_and_its_tokens_given_back():
    gov = governor(1, "sms")
    # Three segments at one per second: the third slot starts after a 0.5 s deadline.
    assert not gov.acquire(kind="sms", sender="s", cost=3, lane=0, deadline=time.time() + 0.5)
    # The token of the current slot was given back: a one-segment message goes at once.
    started = time.monotonic()
    assert gov.acquire(kind="sms", sender="s", cost=1, lane=2, deadline=time.time() + 0.5)
    assert time.monotonic() - started < 0.3


def test_sms_cost_one_token_per_segment_gsm7_160_and_ucs2_70():
    def cost(text: str) -> int:
        return cost_of(Target("sms", "+15555550100"), Message("k", "", "", "", text))

    assert cost("a" * 160) == 1
    assert cost("a" * 161) == 2
    assert cost("a" * 153 * 3) == 3
    # One no-break space turns the whole message UCS-2: 70 characters, 67 per part.
    assert cost("\xa0" + "a" * 69) == 1
    assert cost("\xa0" + "a" * 70) == 2
    assert cost("\xa0" + "a" * 200) == 3 == segments("\xa0" + "a" * 200)
    assert cost_of(Target("webhook", "http://h/"), Message("k", "", "", "", "a" * 500)) == 1


def test_the_sender_is_the_from_address_the_sender_id_or_the_destination_host():
    mail = sender_of(Target("email", "ann@x.org"), email_from="Ops <OPS@x.org>")
    assert mail == "ops <ops@x.org>"
    assert sender_of(Target("sms", "+15555550100"), sms_sender="PORTAL") == "PORTAL"
    assert sender_of(Target("sms", "+15555550100")) == "default"
    one = sender_of(Target("webhook", "https://Hooks.Example.com/a?x=1"))
    assert one == sender_of(Target("webhook", "https://hooks.example.com/b"))
    assert one != sender_of(Target("webhook", "https://other.example.com/a"))


def test_it_is_per_process_with_locmem_and_shared_with_redis(settings):
    settings.SOS_RATE_WEBHOOK = 5
    assert get_governor().cache.__class__.__name__ == "LocMemCache"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/15",
        }
    }
    assert get_governor().cache.__class__.__name__ == "RedisCache"


def test_webhooks_to_one_host_respect_the_rate_at_the_receiver(
    make_contact, receiver, dispatch, settings
):
    settings.SOS_RATE_WEBHOOK = 5
    arrivals = record_arrivals(receiver)
    for n in range(20):
        make_contact(f"Bot {n}", webhook=receiver.url(f"/hook/{n}"), groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"], severity="info").alert
    report = drain(dispatch)
    assert report.sent == 20
    assert set(alert.deliveries.values_list("state", flat=True)) == {"sent"}
    assert len(arrivals) == 20
    assert max(arrivals) - min(arrivals) >= 3.0  # 20 at 5/s
    assert busiest_second(arrivals) <= 5 + 1 + 1  # rate, one slot's tokens, arrival jitter


def test_a_second_receiver_is_not_held_back_by_the_first_ones_budget(
    make_contact, dispatch, settings
):
    settings.SOS_RATE_WEBHOOK = 4
    first, second = WebhookReceiver().start(), WebhookReceiver().start()
    try:
        at_first, at_second = record_arrivals(first), record_arrivals(second)
        for n in range(8):
            make_contact(f"A{n}", webhook=first.url(f"/a/{n}"), groups=["ops"])
            make_contact(f"B{n}", webhook=second.url(f"/b/{n}"), groups=["ops"])
        services.alert_raise(message="Fire", groups=["ops"], severity="warning")
        assert drain(dispatch).sent == 16
    finally:
        first.stop()
        second.stop()
    assert busiest_second(at_first) <= 6
    assert busiest_second(at_second) <= 6
    assert busiest_second(at_first + at_second) >= 7  # together, more than one budget


def test_sms_are_paced_by_segments(make_contact, aws, dispatch, settings):
    settings.SOS_RATE_SMS = 4  # a slot of 0.25 s per segment
    make_contact("Ann", phone="+15555550100", groups=["ops"])
    make_contact("Bob", phone="+15555550101", groups=["ops"])
    # Cyrillic is not GSM-7: UCS-2, 67 characters per part, cut to SOS_SMS_MAX_SEGMENTS (3).
    services.alert_raise(message="Пожар в здании номер два, " * 12, groups=["ops"])
    started = time.monotonic()
    assert dispatch().sent == 2
    elapsed = time.monotonic() - started
    texts = [sms["message"] for sms in aws.sent_sms()]
    assert [segments(text) for text in texts] == [3, 3]
    # Six segments at 4/s: the second message waits for its third slot, the sixth: >= 1 s.
    assert elapsed >= 1.0


def test_a_send_whose_turn_comes_after_its_lease_is_released_unsent_not_sent_late(
    make_contact, receiver, dispatch, settings
):
    settings.SOS_RATE_WEBHOOK = 1
    settings.SOS_LEASE_S = 8
    settings.SOS_SEND_TIMEOUT_S = 2.0  # so a send must start within ~5 s of its claim
    make_contact("Bot", webhook=receiver.url(), groups=["ops"])
    # Another worker booked the next 20 seconds of this receiver's budget.
    booked = Governor({"webhook": 1}, cache=get_governor().cache, sleep=lambda s: None)
    host = sender_of(Target("webhook", receiver.url()))
    assert booked.acquire(kind="webhook", sender=host, cost=20, lane=0, deadline=time.time() + 60)
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    report = dispatch(max_seconds=1.0)
    assert report.released >= 1
    assert report.sent == 0
    assert receiver.requests == []
    delivery = alert.deliveries.get()
    assert delivery.state == Delivery.State.PENDING  # not lost: due again, no attempt used
    assert delivery.attempts == 0
    assert not delivery.lease_token


SHARED_SCRIPT = """
import os, sys, time
import django
django.setup()
from modules.sos.outbox.claims import PassReport
from modules.sos.outbox.dispatch import seconds_until_due
from modules.sos.outbox.governor import get_governor
gov = get_governor()
assert type(gov.cache).__name__ == "RedisCache", type(gov.cache)
start = float(sys.argv[1])
time.sleep(max(0, start - time.time()))
for _ in range(15):
    assert gov.acquire(kind="webhook", sender="shared", cost=1, lane=2, deadline=time.time() + 30)
    print(time.time(), flush=True)
"""


def redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_two_worker_processes_share_one_budget_through_redis():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "1",
        "CACHE_URL": f"redis://127.0.0.1:6379/15?prefix=gov-{uuid.uuid4().hex}",
        "SOS_RATE_WEBHOOK": "10",
    }
    start = time.time() + 2.0  # both start together, after their imports
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SHARED_SCRIPT, str(start)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]
    grants = [float(line) for out in outputs for line in out.split()]
    assert len(grants) == 30
    assert max(grants) - min(grants) >= 2.0  # 30 at 10/s: one budget, not two
    assert busiest_second(grants) <= 10 + 1 + 1  # rate, one slot, timestamp jitter


def test_a_slow_budget_does_not_take_every_send_thread(make_contact, dispatch, settings):
    settings.SOS_RATE_WEBHOOK = 1
    settings.SOS_WORKERS = 4  # at most 2 may wait on one budget
    slow, other = WebhookReceiver().start(), WebhookReceiver().start()
    try:
        at_slow, at_other = record_arrivals(slow), record_arrivals(other)
        for n in range(8):
            make_contact(f"Slow {n}", webhook=slow.url(f"/s/{n}"), groups=["ops"])
        make_contact("Other", webhook=other.url(), groups=["ops"])  # queued behind the slow ones
        alert = services.alert_raise(message="Fire", groups=["ops"], severity="info").alert
        started = timezone.now()
        report = dispatch(max_seconds=3.0)
    finally:
        slow.stop()
        other.stop()
    assert len(at_other) == 1
    assert at_other[0] < sorted(at_slow)[1]  # not held back by the slow budget's queue
    assert report.released >= 1
    waiting = alert.deliveries.filter(state=Delivery.State.PENDING)
    assert waiting.exists()  # handed back, not lost: due again a little later, no attempt used
    for delivery in waiting:
        assert delivery.attempts == 0
        assert delivery.next_attempt_at > started
    assert busiest_second(at_slow) <= 1 + 1 + 1


def test_a_critical_first_send_may_wait_even_when_lower_sends_fill_the_waiting_places(settings):
    from modules.sos.outbox.governor import Waiters, waiters_limit

    settings.SOS_WORKERS = 4
    waiters, key = Waiters(), ("sms", "default")
    assert waiters.enter(key, waiters_limit(4))
    assert waiters.enter(key, waiters_limit(4))
    assert not waiters.enter(key, waiters_limit(4))  # a third lower send is handed back
    assert waiters.enter(key, waiters_limit(0))  # a critical still waits its turn


def test_a_cache_outage_sends_unpaced_rather_than_not_at_all(
    make_contact, receiver, dispatch, settings
):
    settings.SOS_RATE_WEBHOOK = 1
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    make_contact("Bot", webhook=receiver.url(), groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    assert dispatch().sent == 1
    assert alert.deliveries.get().state == Delivery.State.SENT
