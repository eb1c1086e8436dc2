"""The Zappa async task woken on commit (SOS_WAKE=zappa).

On Lambda the decorator invokes `dispatch` as a separate asynchronous Lambda call; elsewhere
Zappa runs it synchronously. The scheduled sweep is `portal.lambda_tasks.sos_sweep`, which runs
the `sos_sweep` command.
"""

from __future__ import annotations

from zappa.asynchronous import task


@task
def dispatch() -> dict[str, int]:
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
    from django.conf import settings

    from modules.sos.outbox.dispatch import process_due_deliveries, refresh_connections

    refresh_connections()
    try:
        return process_due_deliveries(max_seconds=settings.SOS_DRAIN_MAX_S).as_dict()
    finally:
        refresh_connections()
