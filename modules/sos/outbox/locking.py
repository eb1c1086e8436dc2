"""Retry a short database step the database refused for a while.

Two kinds of refusal pass:
- SQLite's "database/table is locked": one writer at a time; a step that lost the race is
  rolled back and runs again after a short backoff.
- A lost connection (PostgreSQL restarting, failing over, a network cut), for steps given an
  `until` deadline: an outcome already sent must be written before the lease runs out, or the
  row is sent again. The dead connection is dropped and the step runs on a new one.

Each wrapped step is its own transaction, rolled back when refused, so running it again is safe.
Inside a caller's transaction nothing is retried: the caller's work is lost with it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from django.db import DatabaseError, InterfaceError, OperationalError, connection

logger = logging.getLogger("modules.sos.dispatch")
_rng = random.SystemRandom()
ATTEMPTS = 60
MAX_PAUSE_S = 1.0


def is_connection_lost(exc: DatabaseError) -> bool:
    """Whether the error means the database cannot be reached, rather than refused the step."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError) or connection.vendor == "sqlite":
        return False
    return connection.connection is None or getattr(connection.connection, "closed", False)


def retry_if_locked[T](step: Callable[[], T], *, until: float | None = None) -> T:
    """Run `step`; retry while SQLite is locked, and while the connection is lost until
    `until` (time.monotonic()) when given."""
    attempt = 0
    while True:
        try:
            return step()
        except (OperationalError, InterfaceError) as exc:
            if connection.in_atomic_block:
                raise
            locked = connection.vendor == "sqlite" and "locked" in str(exc)
            lost = until is not None and is_connection_lost(exc)
            if not (locked and attempt < ATTEMPTS - 1) and not (lost and time.monotonic() < until):
                raise
            if lost:
                if attempt == 0:
                    logger.warning("SOS: database unreachable, retrying the step: %s", exc)
                connection.close()
            attempt += 1
            time.sleep(min(MAX_PAUSE_S, 0.002 * 2**attempt) * _rng.uniform(0.5, 1.0))
