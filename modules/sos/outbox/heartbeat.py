"""The worker's heartbeat: a file the delivery loop touches while it makes progress, and the
liveness check that reads its age.

The loop beats on every turn: idle polls, each step of a dispatcher pass, the waits through a
database outage. It stops beating when it stops turning (a query that never returns, a frozen
process) and also while a send it waits for has outlived its lease: the lease is the deadline
every send gets (SOS_LEASE_S covers the send timeout), so past it the send is stuck, another
worker may take the row over, and a restart is the way out.

Run as a script, it is the Kubernetes exec liveness probe, without Django's start-up cost:

    python3 -m modules.sos.outbox.heartbeat --max-age 120

exits 0 when the file named by SOS_WORKER_HEARTBEAT (or --path) was touched within the last
--max-age seconds, 1 otherwise (missing or stale), with one line saying which.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ENV = "SOS_WORKER_HEARTBEAT"
# Touching the file more often than this tells the probe nothing more and costs a syscall.
MIN_INTERVAL_S = 1.0


class Heartbeat:
    """Touches `path` at most once per MIN_INTERVAL_S; a no-op without a path."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path else None
        self._last = float("-inf")

    def beat(self, *, force: bool = False) -> None:
        if self.path is None:
            return
        now = time.monotonic()
        if not force and now - self._last < MIN_INTERVAL_S:
            return
        self.path.touch()
        self._last = now


def age_s(path: Path, *, now: float | None = None) -> float | None:
    """Seconds since the file was last touched; None when it does not exist."""
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return (time.time() if now is None else now) - mtime


def check(path: Path, *, max_age_s: float) -> tuple[bool, str]:
    age = age_s(path)
    if age is None:
        return False, f"no heartbeat at {path}: the worker has not started its loop"
    if age > max_age_s:
        return False, f"heartbeat {path} is {age:.0f} s old (limit {max_age_s:g} s)"
    return True, f"heartbeat {path} is {age:.1f} s old"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fail when the SOS worker's heartbeat is stale.")
    parser.add_argument("--path", default=os.environ.get(ENV, ""), help=f"default: ${ENV}")
    parser.add_argument("--max-age", type=float, required=True, help="seconds")
    args = parser.parse_args(argv)
    if not args.path:
        parser.error(f"no heartbeat file: set {ENV} or pass --path")
    if args.max_age <= 0:
        parser.error("--max-age must be positive")
    alive, message = check(Path(args.path), max_age_s=args.max_age)
    (sys.stdout if alive else sys.stderr).write(message + "\n")
    return 0 if alive else 1


if __name__ == "__main__":
    sys.exit(main())
