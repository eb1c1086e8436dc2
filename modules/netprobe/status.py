"""Status page workflows: pages and their monitor groups, incidents and updates, maintenance.

Keyword-only functions the API, the UI and the admin share. Bad input raises StatusInvalid
(400 `validation_error`, details.fields naming each field), as the API's own validation does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from modules.netprobe.maintenance import MAX_DURATION, zone
from modules.netprobe.models import Monitor
from modules.netprobe.status_models import (
    Incident,
    IncidentStatus,
    IncidentUpdate,
    MaintenanceWindow,
    StatusPage,
    StatusPageGroup,
    StatusPageMonitor,
)
from modules.netprobe.status_snapshot import status_changed
from portal.errors import PortalError

Recurrence = MaintenanceWindow.Recurrence


class StatusInvalid(PortalError):
    code = "validation_error"
    status = 400

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(
            "The request has invalid fields.",
            details={"fields": {k: [v] for k, v in self.errors.items()}},
        )


def _user(user: Any) -> Any:
    return user if getattr(user, "is_authenticated", False) else None


# --- pages ------------------------------------------------------------------------------------


def _check_groups(groups: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[int]]]:
    cleaned: list[tuple[str, list[int]]] = []
    wanted: set[int] = set()
    for index, group in enumerate(groups):
        name = str(group.get("name") or "").strip()
        if not name:
            raise StatusInvalid({"groups": f"group {index + 1} needs a name"})
        ids = [int(pk) for pk in group.get("monitors") or []]
        cleaned.append((name[:100], list(dict.fromkeys(ids))))
        wanted.update(ids)
    known = set(Monitor.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    if missing := sorted(wanted - known):
        raise StatusInvalid({"groups": f"no such monitor: {', '.join(map(str, missing))}"})
    return cleaned


def status_page_save(
    *,
    page: StatusPage | None = None,
    user: Any = None,
    title: str,
    slug: str = "",
    description: str = "",
    public: bool = True,
    groups: Sequence[Mapping[str, Any]] | None = None,
) -> StatusPage:
    """Create or change a page. `groups` ([{"name", "monitors": [ids]}], in order) replaces
    the page's groups when given."""
    title = title.strip()
    slug = (slug or slugify(title)[:64].strip("-")).strip().lower()
    errors: dict[str, str] = {}
    if not title or len(title) > 120:
        errors["title"] = "is required, at most 120 characters"
    if not slug or slug != slugify(slug) or len(slug) > 64:
        errors["slug"] = "letters, digits, hyphens and underscores only, at most 64"
    elif StatusPage.objects.filter(slug=slug).exclude(pk=getattr(page, "pk", None)).exists():
        errors["slug"] = "another status page has this address"
    if errors:
        raise StatusInvalid(errors)
    cleaned = _check_groups(groups) if groups is not None else None
    with transaction.atomic():
        page = page or StatusPage(created_by=_user(user))
        page.title, page.slug, page.description, page.public = title, slug, description, public
        page.save()
        if cleaned is not None:
            page.groups.all().delete()
            for position, (name, ids) in enumerate(cleaned):
                group = StatusPageGroup.objects.create(page=page, name=name, position=position)
                StatusPageMonitor.objects.bulk_create(
                    StatusPageMonitor(group=group, monitor_id=pk, position=i)
                    for i, pk in enumerate(ids)
                )
    status_changed()
    return page


def status_page_groups(page: StatusPage) -> list[dict[str, Any]]:
    """The page's groups as status_page_save takes them."""
    return [
        {"name": g.name, "monitors": [item.monitor_id for item in g.items.all()]}
        for g in page.groups.prefetch_related("items")
    ]


# --- incidents --------------------------------------------------------------------------------


def _check_update(status: str, message: str) -> None:
    errors = {}
    if status not in IncidentStatus.values:
        errors["status"] = f"one of {', '.join(IncidentStatus.values)}"
    if not message.strip():
        errors["message"] = "is required"
    if errors:
        raise StatusInvalid(errors)


def incident_create(
    *,
    page: StatusPage,
    title: str,
    message: str,
    impact: str = Incident.Impact.MINOR,
    status: str = IncidentStatus.INVESTIGATING,
    user: Any = None,
    at: datetime | None = None,
) -> Incident:
    """Open an incident with its first update."""
    if not title.strip():
        raise StatusInvalid({"title": "is required"})
    if impact not in Incident.Impact.values:
        raise StatusInvalid({"impact": f"one of {', '.join(Incident.Impact.values)}"})
    _check_update(status, message)
    at = at or timezone.now()
    with transaction.atomic():
        incident = Incident.objects.create(
            page=page,
            title=title.strip(),
            impact=impact,
            status=status,
            created_at=at,
            resolved_at=at if status == IncidentStatus.RESOLVED else None,
            created_by=_user(user),
        )
        IncidentUpdate.objects.create(
            incident=incident, status=status, message=message.strip(), at=at, by=_user(user)
        )
    status_changed()
    return incident


def incident_update(
    *,
    incident: Incident,
    status: str,
    message: str,
    user: Any = None,
    at: datetime | None = None,
) -> IncidentUpdate:
    """Post an update to the timeline; `resolved` closes the incident, any other reopens it."""
    _check_update(status, message)
    at = at or timezone.now()
    with transaction.atomic():
        update = IncidentUpdate.objects.create(
            incident=incident, status=status, message=message.strip(), at=at, by=_user(user)
        )
        incident.status = status
        incident.resolved_at = at if status == IncidentStatus.RESOLVED else None
        incident.save(update_fields=["status", "resolved_at"])
    status_changed()
    return update


# --- maintenance ------------------------------------------------------------------------------


def maintenance_check(values: dict[str, Any]) -> None:
    """Raise StatusInvalid naming each bad field of a maintenance window's values."""
    errors: dict[str, str] = {}
    if not str(values.get("title") or "").strip():
        errors["title"] = "is required"
    try:
        zone(values.get("timezone") or "")
    except ValueError as exc:
        errors["timezone"] = str(exc)
    starts, ends = values.get("starts_at"), values.get("ends_at")
    recurrence = values.get("recurrence")
    if recurrence not in Recurrence.values:
        errors["recurrence"] = f"one of {', '.join(Recurrence.values)}"
    if starts is None:
        errors["starts_at"] = "is required"
    if recurrence == Recurrence.ONCE:
        if ends is None:
            errors["ends_at"] = "is required for a one-off window"
        elif starts is not None and ends <= starts:
            errors["ends_at"] = "must be after the start"
    elif recurrence in Recurrence.values:
        minutes = values.get("duration_minutes") or 0
        if not 1 <= minutes <= MAX_DURATION / timedelta(minutes=1):
            errors["duration_minutes"] = "between 1 minute and 7 days for a recurring window"
        if ends is not None and starts is not None and ends < starts:
            errors["ends_at"] = "the series cannot stop before it starts"
    days = values.get("weekdays") or []
    if recurrence == Recurrence.WEEKLY and (
        not days or any(not isinstance(d, int) or not 0 <= d <= 6 for d in days)
    ):
        errors["weekdays"] = "choose days of the week, 0 = Monday to 6 = Sunday"
    if errors:
        raise StatusInvalid(errors)


def maintenance_save(
    *,
    window: MaintenanceWindow | None = None,
    user: Any = None,
    monitors: Iterable[Monitor | int] | None = None,
    pages: Iterable[StatusPage | int] | None = None,
    **fields: Any,
) -> MaintenanceWindow:
    """Create or change a maintenance window (fields as on the model)."""
    editable = MaintenanceWindow.EDITABLE
    window = window or MaintenanceWindow(created_by=_user(user))
    values = {name: getattr(window, name) for name in editable}
    values.update({k: v for k, v in fields.items() if k in editable})
    if values["recurrence"] != Recurrence.WEEKLY:
        values["weekdays"] = []
    if values["recurrence"] == Recurrence.ONCE:
        values["duration_minutes"] = None
    values["weekdays"] = sorted(set(values["weekdays"] or []))
    maintenance_check(values)
    with transaction.atomic():
        for name, value in values.items():
            setattr(window, name, value)
        window.save()
        if monitors is not None:
            window.monitors.set(monitors)
        if pages is not None:
            window.pages.set(pages)
    status_changed()
    return window
