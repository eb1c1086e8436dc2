"""The rate governor: messages per second per channel kind and sender, and the life-safety lane.

A provider limits what one sender may send: SES a sending rate per account and From address,
an SMS long code one message part per second (a short code 100), a webhook receiver what it
can take. `SOS_RATE_EMAIL`, `SOS_RATE_SMS`, `SOS_RATE_WEBHOOK`, `SOS_RATE_APPRISE` set the rate
per second for each sender (0: unlimited, no cache round trip at all). The sender is the From
address for email, the sender id (origination identity) for SMS, the destination host for
webhooks and Apprise, so one slow receiver does not use up another's budget. An SMS costs one
token per segment (`channels.sms.segments`: a 3-segment UCS-2 message costs 3).

How: time is cut into slots of `k / rate` seconds holding `k` tokens each (k = 1 up to 20/s,
so a slot is 1/rate; more above, so that a slot lasts at least 50 ms). A send takes its tokens
from the earliest slots that still have some (`cache.incr`, and `cache.add` for a slot's first
take: atomic on Redis and Memcached; an over-take is given back with `decr`), then waits for
the start of the last slot it took from. So no one-second interval holds more than `rate + k`
tokens, whatever the number of threads and processes sharing the cache.

Shared or not: with Redis or Memcached as the Django cache (CACHE_URL=redis://...) every
worker process on every host shares each budget. With locmem (or the database cache, which a
send thread must not touch, or the dummy cache) each process keeps its own budget and gets the
full rate: set the rate divided by the number of worker processes.

The life-safety lane: a send of priority 0 (a critical alert's first send, lanes.py) books the
earliest free slot, even one that starts later, and then waits for it. Every other send takes
only tokens of the slot that has begun; when it is full it waits for the next slot's start and
tries again. A critical therefore waits for at most the criticals before it and one slot, never
for a queue of reminders and lower severities, and lower sends cannot book tokens ahead of a
critical that comes later. Before that, the claim takes criticals first (claims.py), and a
critical claimed behind lower jobs in the dispatcher's pool gets a send thread soon: no budget
may hold more than half the threads waiting (below). Lower sends waiting on two budgets can
still fill every thread; the critical then waits for the first of them to get its turn.

Threads: a send waits for its turn in a send thread of the dispatcher's pool. At most half the
threads of a process wait on any one budget (all of them for critical first sends); a send
beyond that is handed back unsent, due again when its turn may come, so a slow budget (SMS at
1/s) does not hold every thread while email and webhooks queue behind it.

Never late: a send gets a deadline (its lease's end less one send); tokens that come later are
given back and the send is handed back unsent (`released`), due again at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.core.cache.backends.locmem import LocMemCache

from modules.sos.channels.base import ChannelError, Message, Target
from modules.sos.channels.sms import segments
from modules.sos.lanes import LIFE_SAFETY, delivery_priority
from modules.sos.outbox.job import Job
from modules.sos.outbox.leases import SEND_MARGIN_S, lease_covers_send, min_lease_s

logger = logging.getLogger("modules.sos.dispatch")

# A slot lasts at least this long: at 100/s, 5 tokens per 50 ms rather than 1 per 10 ms, so
# waiting threads do not poll the cache a hundred times a second.
MIN_SLOT_S = 0.05
RATE_SETTINGS = {
    "email": "SOS_RATE_EMAIL",
    "sms": "SOS_RATE_SMS",
    "webhook": "SOS_RATE_WEBHOOK",
    "apprise": "SOS_RATE_APPRISE",
}
_SHARED_BACKENDS = ("RedisCache", "PyMemcacheCache", "PyLibMCCache")
UNLEASED_WAIT_S = 60.0  # a job without a lease (a direct call) waits at most this long


@dataclass(frozen=True)
class Budget:
    """One rate as slots: `tokens` per slot of `slot_s` seconds."""

    rate: float

    @property
    def tokens(self) -> int:
        return max(1, math.ceil(self.rate * MIN_SLOT_S))

    @property
    def slot_s(self) -> float:
        return self.tokens / self.rate


def sender_of(target: Target, *, email_from: str = "", sms_sender: str = "") -> str:
    """Whose budget a send uses: the From address, the SMS sender id, the destination host."""
    if target.kind == "email":
        return email_from.strip().lower()
    if target.kind == "sms":
        return sms_sender or "default"
    parts = urlsplit(target.address.strip())
    # Apprise URLs name a service by scheme (tgram://, mailto://): the scheme keeps them apart.
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{parts.port or ''}"


def cost_of(target: Target, message: Message) -> int:
    """Tokens one send takes: 1, or the SMS's segments (billed and limited per segment)."""
    return max(1, segments(message.sms)) if target.kind == "sms" else 1


class Governor:
    """Thread-safe; several processes share budgets through a shared cache."""

    def __init__(
        self,
        rates: dict[str, float],
        *,
        cache: BaseCache,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rates = {kind: float(rate) for kind, rate in rates.items()}
        self.cache = cache
        self._clock = clock
        self._sleep = sleep
        self._granted = threading.local()  # this thread's last grant, for give_back_last()

    def limited(self, kind: str) -> bool:
        return self.rates.get(kind, 0.0) > 0

    def acquire(self, *, kind: str, sender: str, cost: int, lane: int, deadline: float) -> bool:
        """Wait for `cost` tokens of (kind, sender); True once the send may start. False when
        they cannot be had by `deadline` (a `clock()` time): nothing is kept, nothing is sent.
        `lane` 0 books ahead (the life-safety lane); any other lane takes only a begun slot."""
        rate = self.rates.get(kind, 0.0)
        if rate <= 0:
            return True
        budget = Budget(rate)
        digest = hashlib.sha256(sender.encode()).hexdigest()[:16]
        prefix = f"sos:gov:{kind}:{digest}:{budget.tokens}:{budget.slot_s:.6f}"
        held: list[tuple[str, int]] = []
        need = cost
        slot = math.floor(self._clock() / budget.slot_s)
        while need:
            start = slot * budget.slot_s
            if start > deadline:
                self._give_back(held)
                return False
            now = self._clock()
            if lane > 0 and start > now:
                self._sleep(start - now)  # lower lanes never book ahead: wait for the slot
            key = f"{prefix}:{slot}"
            got = self._take(key, need, budget.tokens, ttl=start - self._clock() + budget.slot_s)
            if got and self._clock() >= start + budget.slot_s:
                got = 0  # the take itself outlasted the slot: spent now, its tokens would crowd
            if got:
                held.append((key, got))
                need -= got
            if need:
                slot = max(slot + 1, math.floor(self._clock() / budget.slot_s))
        wait = slot * budget.slot_s - self._clock()
        if wait > 0:
            self._sleep(wait)
        self._granted.held = held
        return True

    def give_back_last(self) -> None:
        """This thread's last grant will not be used (the send is handed back): its tokens go
        back to their slots, for the sends that can still go out."""
        held, self._granted.held = getattr(self._granted, "held", []), []
        self._give_back(held)

    def _take(self, key: str, want: int, tokens: int, *, ttl: float) -> int:
        """Up to `want` of the slot's `tokens`; how many were taken."""
        try:
            total = self.cache.incr(key, want)  # the slot's counter exists but for its first take
        except ValueError:
            self.cache.add(key, 0, timeout=max(2, math.ceil(ttl) + 2))
            try:
                total = self.cache.incr(key, want)
            except ValueError:  # expired between add and incr: the slot is long gone
                return 0
        got = max(0, min(want, tokens - (total - want)))
        if got < want:
            self._decr(key, want - got)
        return got

    def _give_back(self, held: list[tuple[str, int]]) -> None:
        for key, count in held:
            self._decr(key, count)

    def _decr(self, key: str, count: int) -> None:
        with contextlib.suppress(ValueError):  # expired: nothing left to give back
            self.cache.decr(key, count)


_built: tuple[tuple, Governor] | None = None
_lock = threading.Lock()


def rates_from_settings() -> dict[str, float]:
    return {kind: float(getattr(settings, name)) for kind, name in RATE_SETTINGS.items()}


def get_governor() -> Governor:
    """The process's governor, rebuilt when its settings change (tests override them)."""
    global _built
    rates = rates_from_settings()
    backend = settings.CACHES["default"]["BACKEND"]
    shared = backend.endswith(_SHARED_BACKENDS)
    signature = (tuple(sorted(rates.items())), backend if shared else "local")
    with _lock:
        if _built is None or _built[0] != signature:
            # A private locmem that never culls: a culled slot would hand out its tokens again.
            cache = (
                caches["default"]
                if shared
                else LocMemCache("sos-governor", {"OPTIONS": {"MAX_ENTRIES": 1_000_000}})
            )
            _built = (signature, Governor(rates, cache=cache))
        return _built[1]


@dataclass(frozen=True)
class Turn:
    """The governor's verdict for one send: go now, or hand the row back unsent, due again at
    `retry_at` (None: at once; its lease ran short)."""

    go: bool
    retry_at: datetime | None = None


GO = Turn(True)


class Waiters:
    """Send threads of this process waiting on each budget, at most `limit` at once: a slow
    budget (SMS at 1/s) must not take every send thread while email and webhooks wait behind
    it in the pool. A send beyond the limit is handed back, due again when its turn may come."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}
        self._queue_end: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()

    def enter(self, key: tuple[str, str], limit: int) -> bool:
        """False when `limit` threads already wait on this budget; else this one counts."""
        with self._lock:
            count = self._counts.get(key, 0)
            if count >= limit:
                return False
            self._counts[key] = count + 1
            return True

    def defer(self, key: tuple[str, str], *, now: datetime, step_s: float) -> datetime:
        """When a send handed back may come again: the sends handed back before it are spread
        at the budget's pace (`step_s` each), so they come back one turn at a time instead of
        all at once to be handed back again."""
        with self._lock:
            start = max(now + timedelta(seconds=MIN_DEFER_S), self._queue_end.get(key, now))
            # Never far out: rows handed back may be cancelled meanwhile, the budget idle.
            start = min(start, now + timedelta(seconds=MAX_DEFER_S))
            self._queue_end[key] = start + timedelta(seconds=step_s)
            return start

    def leave(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._counts[key] -= 1
            if not self._counts[key]:
                del self._counts[key]


_waiters = Waiters()
MIN_DEFER_S = 1.0  # a send handed back comes again no sooner
MAX_DEFER_S = 30.0  # ... and no later


def waiters_limit(lane: int, workers: int | None = None) -> int:
    """Half the send threads (at least one) may wait on any one budget; a critical's first
    send may use any thread, so lower sends waiting never push it out of its turn. `workers`:
    the pool's size (process_due_deliveries(workers=...)), SOS_WORKERS by default."""
    workers = int(workers or settings.SOS_WORKERS)
    return workers if lane == LIFE_SAFETY else max(1, workers // 2)


def governor_take_turn(
    *,
    target: Target,
    message: Message,
    lane: int,
    within_s: float,
    now: datetime,
    workers: int | None = None,
) -> Turn:
    """The send path's one call: wait for this send's turn for at most `within_s` seconds
    (what the lease allows). Not `go`: the send must not happen now (hand the row back)."""
    governor = get_governor()
    if not governor.limited(target.kind):
        return GO
    if within_s < 0:
        return Turn(False)
    sender = sender_of(
        target, email_from=settings.SOS_EMAIL_FROM, sms_sender=settings.SOS_SMS_SENDER_ID
    )
    cost = cost_of(target, message)
    wait_s = cost / governor.rates[target.kind]
    if wait_s > float(settings.SOS_LEASE_S) - min_lease_s() - SEND_MARGIN_S:
        # No lease leaves room for this send's turn: handed back, it would come back for ever
        # (check_lease_settings refuses such settings; a longer SMS than planned ends here).
        raise ChannelError(
            f"This {target.kind} send needs {cost} token(s) at {governor.rates[target.kind]:g}/s "
            f"({RATE_SETTINGS.get(target.kind, '')}): its {wait_s:g} s wait cannot fit in "
            "SOS_LEASE_S less the send timeout",
            permanent=True,
            configuration=True,
        )
    key = (target.kind, sender)
    limit = waiters_limit(lane, workers)
    if not _waiters.enter(key, limit):
        step = cost / governor.rates[target.kind]
        return Turn(False, _waiters.defer(key, now=now, step_s=step))
    try:
        granted = governor.acquire(
            kind=target.kind,
            sender=sender,
            cost=cost,
            lane=lane,
            deadline=time.time() + within_s,
        )
    except Exception:
        # The shared cache is down: an alert goes out unpaced rather than not at all (the
        # provider's own throttling answers are retried like any transient error).
        logger.warning("SOS rate governor: the cache failed; sending unpaced", exc_info=True)
        granted = True
    finally:
        _waiters.leave(key)
    return GO if granted else Turn(False)


def governor_wait(
    job: Job,
    target: Target,
    message: Message,
    *,
    now: Callable[[], datetime],
    needed_lease_s: float,
    workers: int | None = None,
) -> Turn:
    """In a send thread, just before the send: `go` once it may be sent; otherwise the row is
    handed back unsent (its turn would come too late for the lease, or its budget is busy)."""
    if job.lease_until is None:
        within = UNLEASED_WAIT_S
    else:
        within = (job.lease_until - now()).total_seconds() - needed_lease_s
    lane = delivery_priority(job.severity, resend=job.round > 0 or job.escalation)
    turn = governor_take_turn(
        target=target, message=message, lane=lane, within_s=within, now=now(), workers=workers
    )
    if turn.go and not lease_covers_send(job.lease_until, now(), needed_lease_s):
        with contextlib.suppress(Exception):  # a cache that failed meanwhile keeps them
            get_governor().give_back_last()
        return Turn(False)
    return turn
