"""Retry a short database step the database refused for a while.

Two kinds of refusal pass:
- SQLite's "database/table is locked": one writer at a time; a step that lost the race is
  rolled back and runs again after a short backoff.
- A lost connection (PostgreSQL restarting, failing over, a network cut), or an error that
  passes (a deadlock, a statement timeout, a read-only failover), for steps given an `until`
  deadline: an outcome already sent must be written before the lease runs out, or the
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

from portal.outage import is_unavailable

logger = logging.getLogger("modules.sos.dispatch")
_rng = random.SystemRandom()
ATTEMPTS = 60  # SQLite lock retries: about 12 s at most
LOCKED_PAUSE_S = 0.2
LOST_PAUSE_S = 1.0


# PostgreSQL errors that pass with the moment, though the connection survives them: a
# deadlock, a serialization failure, a statement timeout, a server shutting down, and a
# read-only transaction (a failover in progress, the old primary still answering).
_PASSING_SQLSTATES = frozenset({"40P01", "40001", "57014", "57P01", "57P02", "57P03", "25006"})


def _passing_on_postgres(exc: BaseException) -> bool:
    if connection.vendor != "postgresql":
        return False
    return getattr(exc.__cause__, "sqlstate", None) in _PASSING_SQLSTATES


def retry_if_locked[T](step: Callable[[], T], *, until: float | None = None) -> T:
    """Run `step`; retry while SQLite is locked, and while the database cannot be reached
    until `until` (time.monotonic()) when given."""
    attempt = 0
    while True:
        try:
            return step()
        except DatabaseError as exc:
            if connection.in_atomic_block:
                raise
            passing = until is not None and _passing_on_postgres(exc)
            if not passing and not (
                isinstance(exc, OperationalError | InterfaceError) and is_unavailable(exc)
            ):
                raise
            if connection.vendor == "sqlite":
                if attempt >= ATTEMPTS - 1:
                    raise
                pause = min(LOCKED_PAUSE_S, 0.002 * 2 ** min(attempt, 10))
            else:
                if until is None or time.monotonic() >= until:
                    raise
                if attempt == 0:
                    logger.warning("SOS: database unreachable, retrying the step: %s", exc)
                connection.close()
                pause = min(LOST_PAUSE_S, 0.05 * 2 ** min(attempt, 10))
            attempt += 1
            time.sleep(pause * _rng.uniform(0.5, 1.0))
