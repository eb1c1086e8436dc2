"""Workflows of the module: keyword-only functions named <thing>_<action>.

Probes run through the engines in `modules.netprobe.probes` with the portal's egress policy and
the settings' limits (runner.py); every run is stored as a ProbeResult row. Monitor workflows
live in monitoring.py and are re-exported here, so views, API and commands import one module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, overload

from django.conf import settings
from django.utils import timezone

from modules.netprobe.models import Monitor, ProbeResult, UnavailableLocation
from modules.netprobe.monitor_runs import monitor_run_due
from modules.netprobe.monitoring import (
    monitor_create,
    monitor_pause,
    monitor_record,
    monitor_resume,
    monitor_update,
)
from modules.netprobe.probes import ProbeOptionsError
from modules.netprobe.runner import (
    ProbeSpec,
    build_row,
    execute,
    probe_limits,
    probe_validate,
    run_many,
    target_precheck,
)
from modules.netprobe.selectors import Uptime, monitor_series, monitor_uptime
from modules.netprobe.vantages.measure import Measurement, MeasurementEntry
from modules.netprobe.vantages.services import (
    VantageInUse,
    VantageInvalid,
    vantage_check,
    vantage_create,
    vantage_delete,
    vantage_update,
)
from portal.egress import get_policy
from portal.errors import PortalError

__all__ = [
    "BatchInvalid",
    "Measurement",
    "MeasurementEntry",
    "ProbeSpec",
    "Uptime",
    "VantageInUse",
    "VantageInvalid",
    "monitor_create",
    "monitor_pause",
    "monitor_record",
    "monitor_resume",
    "monitor_run_due",
    "monitor_series",
    "monitor_update",
    "monitor_uptime",
    "probe_batch",
    "probe_limits",
    "probe_run",
    "probe_validate",
    "results_prune",
    "target_precheck",
    "vantage_check",
    "vantage_create",
    "vantage_delete",
    "vantage_update",
]


class BatchInvalid(PortalError):
    """Some batch items are invalid: `errors` maps the item index to its field errors.

    Answered like the API's own validation errors, under details.fields.items.<index>."""

    code = "validation_error"
    status = 400

    def __init__(self, errors: Mapping[int, Mapping[str, str]]) -> None:
        self.errors = {index: dict(e) for index, e in errors.items()}
        items = {str(i): {k: [v] for k, v in e.items()} for i, e in self.errors.items()}
        super().__init__(
            f"{len(self.errors)} invalid item(s)", details={"fields": {"items": items}}
        )


@overload
def probe_run(
    *, spec: ProbeSpec, user: Any = None, monitor: Monitor | None = None, locations: None = None
) -> ProbeResult: ...
@overload
def probe_run(
    *, spec: ProbeSpec, user: Any = None, monitor: Monitor | None = None, locations: Sequence[str]
) -> Measurement: ...
def probe_run(
    *,
    spec: ProbeSpec,
    user: Any = None,
    monitor: Monitor | None = None,
    locations: Sequence[str] | None = None,
) -> ProbeResult | Measurement:
    """Run and store one probe validated by `probe_validate`. Raises EgressForbidden (the
    target is refused: no packet is sent, nothing is stored).

    With `locations` (vantage names, "local", or ["all"]; [] means ["local"]) it runs at each
    of them at once and returns a Measurement, one entry per location; a refused target is then
    that location's `forbidden` result. Raises LocationsInvalid for an unknown location."""
    if locations is not None:
        from modules.netprobe.vantages.measure import measure

        return measure(specs=[spec], locations=locations, user=user, monitor=monitor)[0]
    result = execute(spec, policy=get_policy(), limits=probe_limits())
    row = build_row(result, spec, user=user, monitor=monitor)
    row.save()
    return row


@overload
def probe_batch(
    *, items: Sequence[Mapping[str, Any] | ProbeSpec], user: Any = None, locations: None = None
) -> list[ProbeResult]: ...
@overload
def probe_batch(
    *, items: Sequence[Mapping[str, Any] | ProbeSpec], user: Any = None, locations: Sequence[str]
) -> list[Measurement]: ...
def probe_batch(
    *,
    items: Sequence[Mapping[str, Any] | ProbeSpec],
    user: Any = None,
    locations: Sequence[str] | None = None,
) -> list[ProbeResult] | list[Measurement]:
    """Run up to NETPROBE_BATCH_MAX probes concurrently and store every result in one query.

    Items are ProbeSpecs or {"kind", "target", "options"} mappings. Invalid items raise
    BatchInvalid before anything runs; a refused target is that item's `forbidden` result, so
    one bad target does not cost the others their results. Takes about as long as the slowest
    probe while there are no more items than NETPROBE_BATCH_WORKERS.

    With `locations`, every item runs at every location at once (items x locations at most
    NETPROBE_BATCH_MAX) and one Measurement per item comes back, in order.
    """
    if not items:
        raise BatchInvalid({0: {"items": "at least one item is required"}})
    if len(items) > settings.NETPROBE_BATCH_MAX:
        raise BatchInvalid({-1: {"items": f"at most {settings.NETPROBE_BATCH_MAX} items"}})
    specs: list[ProbeSpec] = []
    errors: dict[int, dict[str, str]] = {}
    for index, item in enumerate(items):
        if isinstance(item, ProbeSpec):
            specs.append(item)
            continue
        try:
            specs.append(
                probe_validate(
                    kind=str(item.get("kind") or ""),
                    target=str(item.get("target") or ""),
                    options=item.get("options"),
                )
            )
        except ProbeOptionsError as exc:
            errors[index] = exc.errors
    if errors:
        raise BatchInvalid(errors)
    if locations is not None:
        from modules.netprobe.vantages.measure import measure

        return measure(specs=specs, locations=locations, user=user)
    results = run_many(specs)
    rows = [build_row(r, s, user=user) for r, s in zip(results, specs, strict=True)]
    return ProbeResult.objects.bulk_create(rows, batch_size=500)


def results_prune(
    *, older_than_days: int | None = None, now: datetime | None = None, chunk: int = 1000
) -> int:
    """Delete probe results older than NETPROBE_RETENTION_DAYS, and the unavailable locations
    of the measurements as old (UnavailableLocation, by its indexed `at`); returns how many
    probe results went.

    In chunks, loading only ids: a row carries a JSON body that need not be read to delete it.
    Monitors and their transitions stay (their links to pruned rows become null).
    """
    days = settings.NETPROBE_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(
            ProbeResult.objects.filter(started_at__lt=cutoff)
            .order_by()
            .values_list("pk", flat=True)[:chunk]
        )
        if not ids:
            # Stored with their measurement's first result (measure.py, quorum.py): as old.
            UnavailableLocation.objects.filter(at__lt=cutoff).delete()
            return deleted
        ProbeResult.objects.filter(pk__in=ids).only("pk").delete()
        deleted += len(ids)
