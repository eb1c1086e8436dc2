"""Retry a short database step that SQLite refused with "database/table is locked".

SQLite runs one writer at a time. With WAL a reader that turns writer can be refused at once
(SQLITE_BUSY_SNAPSHOT, no busy wait), and an in-memory shared-cache database (Django's test
database) refuses conflicting table locks at once. Each step wrapped here is its own
transaction, rolled back when refused, so running it again is safe. Other databases and
other errors pass straight through.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from django.db import OperationalError, connection

_rng = random.SystemRandom()
ATTEMPTS = 60


def retry_if_locked[T](step: Callable[[], T]) -> T:
    for attempt in range(ATTEMPTS):
        try:
            return step()
        except OperationalError as exc:
            retryable = (
                connection.vendor == "sqlite"
                and "locked" in str(exc)
                and not connection.in_atomic_block
                and attempt < ATTEMPTS - 1
            )
            if not retryable:
                raise
            time.sleep(min(0.2, 0.002 * 2**attempt) * _rng.uniform(0.5, 1.0))
    raise AssertionError("unreachable")
