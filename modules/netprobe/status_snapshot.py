"""What a public status page shows, in a fixed number of queries however many monitors it has.

One dict serves the HTML page, the JSON form and the ETag. It holds no "generated at" time, so
two requests seeing the same data get the same ETag. Days are UTC days. A failed check inside
a maintenance occurrence of its monitor counts as maintenance, not as down. A monitor run from
several locations counts rounds, not checks (rounds.py): a round is down when at least its
quorum of locations failed, so one location failing alone leaves the bar up.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Exists, OuterRef, Prefetch, Q
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone

from modules.netprobe import maintenance, rounds
from modules.netprobe.maintenance import Span
from modules.netprobe.models import Monitor, ProbeResult, Status
from modules.netprobe.selectors import maintenance_failures
from modules.netprobe.status_models import (
    Incident,
    MaintenanceWindow,
    StatusPage,
    StatusPageMonitor,
)

DAYS = 90
RECENT_INCIDENTS = timedelta(days=7)  # resolved incidents stay on the page this long
MAINTENANCE_AHEAD = timedelta(days=14)  # maintenance is announced this far in advance
CACHE_S = 15
GENERATION_KEY = "netprobe:status:generation"
PARTIAL_AT = 95.0  # a day with failures at or above this uptime is "partial", below "down"


def public_page(slug: str) -> StatusPage | None:
    return StatusPage.objects.filter(slug=slug, public=True).first()


def cached_snapshot(slug: str) -> dict[str, Any] | None:
    """The public page's snapshot (None: no such public page), kept CACHE_S seconds.

    Many Lambda requests for one page then cost no query. Every status write bumps a
    generation (status_changed) so this process serves the change at once; other processes
    within CACHE_S, as browsers do within the max-age anyway."""
    key = f"netprobe:status:{slug}:{cache.get(GENERATION_KEY, 0)}"
    found = cache.get(key)
    if found is None:
        page = public_page(slug)
        found = {"snapshot": page_snapshot(page) if page is not None else None}
        cache.set(key, found, CACHE_S)
    return found["snapshot"]


def status_changed() -> None:
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:  # not set yet, or evicted
        cache.set(GENERATION_KEY, 1, None)


def _day_state(checks: int, ok: int, in_maintenance: int, scheduled: bool) -> dict[str, Any]:
    down = checks - ok - in_maintenance
    counted = checks - in_maintenance
    uptime = round(100 * ok / counted, 3) if counted else None
    if checks == 0:
        state = "maintenance" if scheduled else "nodata"
    elif down == 0:
        state = "maintenance" if in_maintenance else "up"
    else:
        state = "partial" if uptime is not None and uptime >= PARTIAL_AT else "down"
    return {
        "state": state,
        "uptime_percent": uptime,
        "checks": checks,
        "down": down,
        "maintenance": in_maintenance,
    }


def _windows(page: StatusPage, monitor_ids: list[int], since: datetime) -> list[MaintenanceWindow]:
    on_page = MaintenanceWindow.pages.through.objects.filter(
        maintenancewindow_id=OuterRef("pk"), statuspage_id=page.pk
    )
    linked = MaintenanceWindow.monitors.through.objects.filter(
        maintenancewindow_id=OuterRef("pk"), monitor_id__in=monitor_ids
    )
    return list(
        MaintenanceWindow.objects.annotate(on_page=Exists(on_page), linked=Exists(linked))
        .filter(Q(on_page=True) | Q(linked=True))
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gte=since - maintenance.MAX_DURATION))
        .prefetch_related(
            Prefetch("monitors", queryset=Monitor.objects.only("pk"), to_attr="monitor_rows")
        )
    )


def _day_counts(
    monitor_ids: list[int], need: dict[int, int], since: datetime
) -> dict[tuple[int, date], dict]:
    """Checks and ok checks per (monitor, UTC day); rounds and up rounds for the monitors run
    from several locations (`need`: their quorums), in one more query."""
    single = [pk for pk in monitor_ids if pk not in need]
    found = {
        (row["monitor_id"], row["day"]): row
        for row in ProbeResult.objects.filter(monitor_id__in=single, started_at__gte=since)
        .order_by()
        .values("monitor_id", day=TruncDate("started_at", tzinfo=UTC))
        .annotate(checks=Count("pk"), ok=Count("pk", filter=Q(status=Status.OK)))
    }
    return {**found, **rounds.round_counts(need, since, by_day=True)}


def _excused(
    covered: dict[int, list[Span]], need: dict[int, int], since: datetime
) -> dict[tuple[int, date], int]:
    """Failed checks (down rounds) inside a maintenance occurrence of their monitor, per
    (monitor, UTC day)."""
    failures = maintenance_failures({k: v for k, v in covered.items() if k not in need}, since)
    failures += rounds.down_rounds_covered(need, covered, since)
    return Counter((pk, at.astimezone(UTC).date()) for pk, at in failures)


def _days_bar(
    monitor_id: int,
    first_day: date,
    counts: dict[tuple[int, date], dict],
    excused: dict[tuple[int, date], int],
    spans: list[Span],
) -> tuple[list[dict[str, Any]], float | None]:
    """The monitor's DAYS day entries and its uptime over them (maintenance left out)."""
    scheduled = {
        start.date() + timedelta(days=i)
        for start, end in spans
        for i in range((end.date() - start.date()).days + 1)
    }
    days = []
    total_ok = total_counted = 0
    for offset in range(DAYS):
        d = first_day + timedelta(days=offset)
        row = counts.get((monitor_id, d), {"checks": 0, "ok": 0})
        spared = excused.get((monitor_id, d), 0)
        total_ok += row["ok"]
        total_counted += row["checks"] - spared
        entry = _day_state(row["checks"], row["ok"], spared, d in scheduled)
        days.append({"date": d.isoformat(), **entry})
    uptime = round(100 * total_ok / total_counted, 3) if total_counted else None
    return days, uptime


def _groups(page: StatusPage) -> list[Any]:
    items = Prefetch(
        "items",
        queryset=StatusPageMonitor.objects.select_related("monitor").only(
            "group_id",
            "position",
            "monitor__name",
            "monitor__state",
            "monitor__enabled",
            "monitor__locations",
            "monitor__quorum",
        ),
    )
    return list(page.groups.prefetch_related(items))


def _planned(
    windows: list[MaintenanceWindow], monitor_ids: list[int], now: datetime
) -> list[dict[str, Any]]:
    """The page's maintenance now or ahead, naming only the monitors the page shows."""
    shown = [w for w in windows if w.on_page]
    on_page = set(monitor_ids)
    return [
        {
            "id": window.pk,
            "title": window.title,
            "description": window.description,
            "starts_at": start,
            "ends_at": end,
            "active": start <= now < end,
            "recurrence": window.recurrence,
            "monitors": [m.pk for m in window.monitor_rows if m.pk in on_page],
        }
        for window, start, end in maintenance.upcoming(shown, now, MAINTENANCE_AHEAD)
    ]


def _group_rows(
    groups: list[Any],
    first_day: date,
    covered: dict[int, list[Span]],
    since: datetime,
    now: datetime,
) -> list[dict[str, Any]]:
    """Each group with its monitors' state, uptime and day bar (two queries for all)."""
    monitor_ids = sorted({item.monitor_id for g in groups for item in g.items.all()})
    need = rounds.quorums(item.monitor for g in groups for item in g.items.all())
    counts = _day_counts(monitor_ids, need, since)
    excused = _excused(covered, need, since)
    rows = []
    for group in groups:
        monitors = []
        for item in group.items.all():
            monitor = item.monitor
            spans = covered.get(monitor.pk, [])
            days, uptime = _days_bar(monitor.pk, first_day, counts, excused, spans)
            in_maintenance = maintenance.covers(spans, now)
            monitors.append(
                {
                    "id": monitor.pk,
                    "name": monitor.name,
                    "status": _monitor_state(monitor, in_maintenance=in_maintenance),
                    "uptime_percent": uptime,
                    "days": days,
                }
            )
        rows.append({"name": group.name, "monitors": monitors})
    return rows


def page_snapshot(page: StatusPage, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    today = now.astimezone(UTC).date()
    first_day = today - timedelta(days=DAYS - 1)
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)

    groups = _groups(page)
    monitor_ids = sorted({item.monitor_id for g in groups for item in g.items.all()})
    windows = _windows(page, monitor_ids, since)
    covered = maintenance.coverage(windows, monitor_ids, since, now)
    body_groups = _group_rows(groups, first_day, covered, since, now)
    states = [m["status"] for g in body_groups for m in g["monitors"]]
    incidents = list(
        page.incidents.filter(
            Q(resolved_at__isnull=True) | Q(resolved_at__gte=now - RECENT_INCIDENTS)
        ).prefetch_related("updates")
    )
    planned = _planned(windows, monitor_ids, now)
    open_incidents = [incident_dict(i) for i in incidents if i.resolved_at is None]
    return {
        "page": {
            "slug": page.slug,
            "title": page.title,
            "description": page.description,
            "url": reverse("status:page", args=[page.slug]),
        },
        "status": _overall(states, open_incidents, any(p["active"] for p in planned)),
        "groups": body_groups,
        "incidents": {
            "active": open_incidents,
            "recent": [incident_dict(i) for i in incidents if i.resolved_at is not None],
        },
        "maintenance": planned,
        "days": {"first": first_day.isoformat(), "last": today.isoformat(), "count": DAYS},
    }


def incident_dict(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.pk,
        "title": incident.title,
        "impact": incident.impact,
        "status": incident.status,
        "created_at": incident.created_at,
        "resolved_at": incident.resolved_at,
        "updates": [
            {"status": u.status, "message": u.message, "at": u.at} for u in incident.updates.all()
        ],
    }


def _monitor_state(monitor: Monitor, *, in_maintenance: bool) -> str:
    if in_maintenance:
        return "maintenance"
    if not monitor.enabled or monitor.state == Monitor.State.PAUSED:
        return "paused"
    return monitor.state


def _overall(
    states: list[str], incidents: list[dict[str, Any]], maintenance_now: bool
) -> dict[str, str]:
    down = states.count("down")
    impacts = {i["impact"] for i in incidents}
    if (down and down == len(states)) or "critical" in impacts:
        return {"indicator": "major_outage", "description": "Major outage"}
    if down or "major" in impacts:
        return {"indicator": "partial_outage", "description": "Partial outage"}
    if incidents:
        return {"indicator": "degraded", "description": "Degraded performance"}
    if maintenance_now or "maintenance" in states:
        return {"indicator": "maintenance", "description": "Under maintenance"}
    return {"indicator": "operational", "description": "All systems operational"}
