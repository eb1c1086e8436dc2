from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from portal.finops import traffic


@pytest.fixture
def counting(settings) -> Iterator[None]:
    """Traffic counting on, nothing pending, the flush interval just started."""
    settings.FINOPS_TRAFFIC = True
    settings.FINOPS_FLUSH_S = 3600
    traffic.discard()
    traffic._last_flush = time.monotonic()
    yield
    traffic.discard()


def flush_due() -> None:
    traffic._last_flush = time.monotonic() - 10_000
