"""Entry points for AWS Lambda through Zappa.

`dispatch` is the async task woken on commit (SOS_WAKE=zappa): on Lambda the decorator invokes
it as a separate asynchronous Lambda call; elsewhere Zappa runs it synchronously. `sweep` is
the scheduled event (`events` in zappa_settings.json, every minute) that catches lost wake-ups,
retries and reminders.
"""

from __future__ import annotations

from typing import Any

from zappa.asynchronous import task


def _drain() -> dict[str, int]:
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
    from django.conf import settings

    from modules.sos.dispatch import process_due_deliveries, refresh_connections

    refresh_connections()
    try:
        return process_due_deliveries(max_seconds=settings.SOS_DRAIN_MAX_S).as_dict()
    finally:
        refresh_connections()


@task
def dispatch() -> dict[str, int]:
    return _drain()


def sweep(event: Any = None, context: Any = None) -> dict[str, int]:
    return _drain()
