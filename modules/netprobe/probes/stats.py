"""Ping-style statistics shared by the tcp and ping kinds."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from .base import ErrorCode


@dataclass(frozen=True)
class Attempt:
    seq: int
    rtt_ms: float | None
    error_code: ErrorCode | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "rtt_ms": self.rtt_ms,
            "error": {"code": self.error_code, "message": self.error} if self.error_code else None,
        }


def summarize(attempts: Sequence[Attempt], count: int) -> dict[str, Any]:
    """min/avg/max, population stddev (like ping's mdev) and jitter (mean |consecutive diff|)."""
    rtts = [a.rtt_ms for a in attempts if a.rtt_ms is not None]
    sent = len(attempts)
    received = len(rtts)

    def r(value: float) -> float:
        return round(value, 3)

    return {
        "count": count,
        "sent": sent,
        "received": received,
        "loss_percent": r(100 * (sent - received) / sent) if sent else 100.0,
        "rtt_min_ms": r(min(rtts)) if rtts else None,
        "rtt_avg_ms": r(statistics.fmean(rtts)) if rtts else None,
        "rtt_max_ms": r(max(rtts)) if rtts else None,
        "rtt_stddev_ms": r(statistics.pstdev(rtts)) if rtts else None,
        "jitter_ms": (
            r(statistics.fmean(abs(b - a) for a, b in pairwise(rtts))) if len(rtts) > 1 else None
        ),
        "stddev_kind": "population",
        "attempts": [a.to_dict() for a in attempts],
    }


def most_common_error(attempts: Sequence[Attempt]) -> tuple[ErrorCode, str]:
    failed = [a for a in attempts if a.error_code]
    if not attempts:  # count >= 1: only the time budget stops the first attempt
        return "timeout", "nothing sent: one attempt could outlast the time budget"
    if not failed:
        return "connect", "no attempt was sent"
    codes = [a.error_code for a in failed]
    code = max(set(codes), key=codes.count)
    message = next(a.error for a in failed if a.error_code == code)
    assert code is not None
    assert message is not None
    return code, message
