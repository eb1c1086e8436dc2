"""The coordinating thread writes outcomes that finish together in one statement: it waits a
few milliseconds for the other running sends, never longer, and never for a send that is not
running (writeback.Handoff.take)."""

from __future__ import annotations

import threading
import time
from typing import Any

from modules.sos.outbox.writeback import Handoff


def _hand_over_later(handoff: Handoff, delays: list[float]) -> list[threading.Thread]:
    def send(delay: float, n: int) -> None:
        time.sleep(delay)
        handoff.hand_over(n, wait_s=5)  # type: ignore[arg-type] (any outcome will do)

    threads = [
        threading.Thread(target=send, args=(delay, n), daemon=True)
        for n, delay in enumerate(delays)
    ]
    for thread in threads:
        thread.start()
    return threads


def _finish(handoff: Handoff, items: list[Any], threads: list[threading.Thread]) -> None:
    Handoff.release(items)
    handoff.close()
    for thread in threads:
        thread.join(5)


def test_outcomes_finishing_together_are_taken_in_one_write() -> None:
    handoff = Handoff()
    threads = _hand_over_later(handoff, [0.0, 0.02, 0.04])
    started = time.monotonic()

    items = handoff.take(timeout=5, gather_s=3, enough=3)

    assert sorted(outcome for outcome, _ in items) == [0, 1, 2]
    # It stopped waiting once every running send had handed over, far before the window.
    assert time.monotonic() - started < 2.5
    _finish(handoff, items, threads)


def test_a_lone_send_is_written_without_waiting_for_the_window() -> None:
    handoff = Handoff()
    threads = _hand_over_later(handoff, [0.0])
    started = time.monotonic()

    items = handoff.take(timeout=5, gather_s=3, enough=1)

    assert [outcome for outcome, _ in items] == [0]
    assert time.monotonic() - started < 2.5
    _finish(handoff, items, threads)


def test_the_write_does_not_wait_past_its_window_for_a_slow_send() -> None:
    handoff = Handoff()
    threads = _hand_over_later(handoff, [0.0, 4.0])
    started = time.monotonic()

    items = handoff.take(timeout=5, gather_s=0.2, enough=2)

    assert [outcome for outcome, _ in items] == [0]
    assert 0.2 <= time.monotonic() - started < 3.5
    # The slow send's outcome is the next write's.
    later = handoff.take(timeout=5, gather_s=0.2, enough=1)
    assert [outcome for outcome, _ in later] == [1]
    _finish(handoff, items + later, threads)


def test_a_send_thread_waits_until_its_outcome_is_written() -> None:
    handoff = Handoff()
    threads = _hand_over_later(handoff, [0.0])
    items = handoff.take(timeout=5, gather_s=0, enough=1)
    time.sleep(0.1)

    assert threads[0].is_alive()  # still waiting for the write
    Handoff.release(items)
    threads[0].join(5)
    assert not threads[0].is_alive()
    handoff.close()
