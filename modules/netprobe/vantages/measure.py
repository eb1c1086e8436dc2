"""Measurements: one probe (or each probe of a batch) at several locations, stored.

A location that answered is one ProbeResult row with `location` set, the rows of one
measurement sharing its `measurement` id; a `vantage_unavailable` location stores no
ProbeResult (it is neither a success nor a failure) but an UnavailableLocation with the reason,
so the measurement read back later (`measurement_get`, the result page) still lists it. A
measurement no location answered stores nothing. Reached through services.probe_run /
probe_batch with `locations=`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from modules.netprobe.models import LOCAL, Monitor, ProbeResult, UnavailableLocation
from modules.netprobe.runner import ProbeSpec, build_row
from modules.netprobe.vantages.fanout import LocationOutcome, LocationStatus, run_pairs
from modules.netprobe.vantages.locations import invalid, resolve

logger = logging.getLogger("modules.netprobe")


@dataclass(frozen=True)
class MeasurementEntry:
    location: str
    status: LocationStatus
    row: ProbeResult | None  # None when the vantage was unavailable
    reason: str = ""
    latency_ms: float | None = None


@dataclass(frozen=True)
class Measurement:
    id: uuid.UUID
    entries: list[MeasurementEntry]


def measure(
    *,
    specs: Sequence[ProbeSpec],
    locations: Sequence[str] | None,
    user: Any = None,
    monitor: Monitor | None = None,
) -> list[Measurement]:
    """Run every spec at every location at once; one Measurement per spec, in order.

    Raises FieldsInvalid (400 validation_error) for an unknown or disabled location, or when
    specs x locations exceeds NETPROBE_BATCH_MAX (under `locations`)."""
    names = resolve(locations)
    limit = settings.NETPROBE_BATCH_MAX
    if len(specs) * len(names) > limit:
        raise invalid(
            f"{len(specs)} item(s) at {len(names)} location(s) is {len(specs) * len(names)} "
            f"probes; a batch runs at most {limit} (items x locations)"
        )
    outcomes = run_pairs([(spec, name) for spec in specs for name in names])
    measurements: list[Measurement] = []
    rows: list[ProbeResult] = []
    gaps: list[UnavailableLocation] = []
    for index, spec in enumerate(specs):
        mid = uuid.uuid4()
        mine = outcomes[index * len(names) : (index + 1) * len(names)]
        mine, built = rows_of(mine, spec, measurement=mid, user=user, monitor=monitor)
        by_location = {row.location: row for row in built}
        rows.extend(built)
        entries = [
            MeasurementEntry(
                o.location, o.status, by_location.get(o.location), o.reason, o.latency_ms
            )
            for o in mine
        ]
        measurements.append(Measurement(mid, entries))
        if built:  # as old as its results: pruned with them (services.results_prune)
            at = built[0].started_at
            gaps.extend(
                UnavailableLocation(
                    measurement=mid, location=e.location, reason=e.reason[:500], at=at
                )
                for e in entries
                if e.row is None
            )
    with transaction.atomic():
        ProbeResult.objects.bulk_create(rows, batch_size=500)  # sets their ids on every backend
        UnavailableLocation.objects.bulk_create(gaps, batch_size=500)
    return measurements


def measurement_get(measurement: uuid.UUID) -> Measurement | None:
    """A stored measurement (ad-hoc, or a monitor's round) as it was answered, by location name:
    the locations that answered and those that did not, with why (no round trip: it was not
    stored). None when nothing of it was stored. Two queries, serialized as well."""
    stored = ProbeResult.objects.filter(measurement=measurement).select_related("created_by")
    rows = {r.location: r for r in stored}
    if not rows:
        return None
    gaps = UnavailableLocation.objects.filter(measurement=measurement)
    entries = [MeasurementEntry(name, "ok", row) for name, row in rows.items()]
    entries += [
        MeasurementEntry(g.location, "vantage_unavailable", None, g.reason)
        for g in gaps
        if g.location not in rows
    ]
    entries.sort(key=lambda e: (e.location != LOCAL, e.location))
    return Measurement(measurement, entries)


def rows_of(
    outcomes: Sequence[LocationOutcome],
    spec: ProbeSpec,
    *,
    measurement: uuid.UUID,
    user: Any = None,
    monitor: Monitor | None = None,
) -> tuple[list[LocationOutcome], list[ProbeResult]]:
    """The rows of the answered locations, and the outcomes as they stand: an answer no row can
    be built from (a vantage's result the codec let through but that breaks the row) becomes
    that location's `vantage_unavailable`, so it never costs the others theirs."""
    kept, rows = [], []
    for outcome in outcomes:
        if outcome.status == "ok" and outcome.result is not None:
            try:
                row = build_row(outcome.result, spec, user=user, monitor=monitor)
            except Exception as exc:
                logger.warning(
                    "NetProbe: %s answered a malformed result: %r", outcome.location, exc
                )
                reason = f"malformed result ({type(exc).__name__})"
                outcome = LocationOutcome(outcome.location, "vantage_unavailable", None, reason)
            else:
                row.location, row.measurement = outcome.location, measurement
                rows.append(row)
        kept.append(outcome)
    return kept, rows
