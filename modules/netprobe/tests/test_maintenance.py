"""Maintenance windows: when recurring ones occur (time zones, DST), and the alerts they silence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from modules.netprobe import maintenance, services, status
from modules.netprobe.models import MaintenanceWindow, Monitor
from modules.netprobe.status_snapshot import page_snapshot

from .support import make_result

pytestmark = pytest.mark.usefixtures("np_settings")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def noon_tomorrow() -> datetime:
    """A fixed `now` for a test: far from midnight (the status bar counts by UTC day) and in the
    future, where the forms accept windows."""
    return (timezone.now() + timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)


def record(monitor: Monitor, at: datetime, result_status: str):
    """One run of the monitor at `at`, with a result of that status."""
    result = make_result(monitor=monitor, status=result_status, started_at=at)
    return services.monitor_record(monitor=monitor, result=result, now=at)


def window(**fields) -> MaintenanceWindow:
    values = {"title": "Nightly", "recurrence": "daily", "timezone": "UTC", "duration_minutes": 60}
    return MaintenanceWindow(**{**values, **fields})


def test_a_daily_window_keeps_its_wall_clock_time_across_dst():
    # 02:00 in Berlin: 01:00 UTC in winter (CET), 00:00 UTC in summer (CEST, from 29 March 2026).
    nightly = window(starts_at=utc(2026, 3, 20, 1, 0), timezone="Europe/Berlin")

    found = list(maintenance.occurrences(nightly, utc(2026, 3, 27, 12), utc(2026, 3, 31, 12)))

    assert [start for start, _ in found] == [
        utc(2026, 3, 28, 1, 0),
        utc(2026, 3, 29, 1, 0),  # 02:00 does not exist that night: 03:00 CEST
        utc(2026, 3, 30, 0, 0),
        utc(2026, 3, 31, 0, 0),
    ]
    assert all(end - start == timedelta(hours=1) for start, end in found)


def test_a_weekly_window_occurs_on_its_days_in_its_time_zone():
    # Tuesdays and Saturdays 23:30 New York (EST, UTC-5): 04:30 UTC the next day.
    weekly = window(
        recurrence="weekly",
        weekdays=[1, 5],
        starts_at=utc(2026, 1, 7, 4, 30),  # Tue 6 Jan 23:30 EST
        timezone="America/New_York",
        duration_minutes=90,
    )

    start, end = maintenance.current_or_next(weekly, utc(2026, 1, 8, 12))

    assert (start, end) == (utc(2026, 1, 11, 4, 30), utc(2026, 1, 11, 6, 0))  # Sat 10 Jan
    assert maintenance.is_active(weekly, utc(2026, 1, 11, 5))
    assert not maintenance.is_active(weekly, utc(2026, 1, 11, 6))


def test_a_series_stops_at_its_end_and_a_one_off_window_is_just_itself():
    series = window(starts_at=utc(2026, 1, 1, 3), ends_at=utc(2026, 1, 3, 0))
    once = window(recurrence="once", starts_at=utc(2026, 2, 1, 3), ends_at=utc(2026, 2, 1, 5))

    assert maintenance.current_or_next(series, utc(2026, 1, 2, 4)) is None
    assert maintenance.current_or_next(series, utc(2026, 1, 2, 3, 30))[0] == utc(2026, 1, 2, 3)
    assert maintenance.current_or_next(once, utc(2026, 1, 1)) == (once.starts_at, once.ends_at)
    assert maintenance.current_or_next(once, utc(2026, 2, 1, 5)) is None


@pytest.mark.django_db
def test_bad_windows_are_refused_with_the_field_named():
    now = timezone.now()
    cases = [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"recurrence": "once", "ends_at": now - timedelta(hours=1)}, "ends_at"),
        ({"recurrence": "weekly", "weekdays": []}, "weekdays"),
        ({"recurrence": "daily", "duration_minutes": 0}, "duration_minutes"),
    ]
    for fields, name in cases:
        values = {"title": "x", "starts_at": now, "timezone": "UTC", "duration_minutes": 30}
        with pytest.raises(status.StatusInvalid) as caught:
            status.maintenance_save(**{**values, **fields})
        assert name in caught.value.details["fields"], fields


def sos_group():
    from modules.sos.models import Contact, ContactMethod, Group

    group = Group.objects.create(name="on-call")
    contact = Contact.objects.create(name="on-call person")
    ContactMethod.objects.create(contact=contact, kind="email", address="oncall@example.com")
    group.members.add(contact)
    return group


@pytest.mark.django_db
def test_going_down_during_maintenance_raises_no_sos_alert_and_counts_as_maintenance():
    from modules.sos.models import Alert

    m = Monitor.objects.create(
        name="db", kind="tcp", target="db.example:5432", failure_threshold=1, sos_group=sos_group()
    )
    now = noon_tomorrow()
    status.maintenance_save(
        title="Database upgrade",
        starts_at=now - timedelta(minutes=30),
        ends_at=now + timedelta(minutes=30),
        recurrence="once",
        timezone="UTC",
        monitors=[m],
    )
    page = status.status_page_save(title="Acme", groups=[{"name": "Data", "monitors": [m.pk]}])

    down = record(m, now, "failed")
    up = record(m, now + timedelta(minutes=1), "ok")

    assert (down.from_state, down.to_state) == ("unknown", "down")
    assert "alert suppressed: maintenance 'Database upgrade'" in down.reason
    assert "alert suppressed" in up.reason  # the recovery of an unalerted outage is quiet too
    assert (down.alert_id, up.alert_id) == (None, None)
    assert not Alert.objects.exists()
    today = page_snapshot(page, now=now + timedelta(minutes=2))["groups"][0]["monitors"][0]
    assert (today["days"][-1]["state"], today["days"][-1]["maintenance"]) == ("maintenance", 1)
    assert today["days"][-1]["down"] == 0
    assert today["status"] == "maintenance"


@pytest.mark.django_db
def test_outside_maintenance_the_same_outage_alerts_and_counts_as_down():
    from modules.sos.models import Alert

    m = Monitor.objects.create(
        name="db", kind="tcp", target="db.example:5432", failure_threshold=1, sos_group=sos_group()
    )
    now = noon_tomorrow()
    status.maintenance_save(  # over: it does not silence this outage
        title="Earlier",
        starts_at=now - timedelta(hours=3),
        ends_at=now - timedelta(hours=2),
        recurrence="once",
        timezone="UTC",
        monitors=[m],
    )
    page = status.status_page_save(title="Acme", groups=[{"name": "Data", "monitors": [m.pk]}])

    down = record(m, now, "failed")

    assert "suppressed" not in down.reason
    assert Alert.objects.get(pk=down.alert_id).severity == "critical"
    today = page_snapshot(page, now=now + timedelta(minutes=1))["groups"][0]["monitors"][0]
    assert today["days"][-1]["state"] == "down"
    assert today["status"] == "down"


@pytest.mark.django_db
def test_an_outage_alerted_before_maintenance_is_resolved_when_it_recovers_inside_one():
    from modules.sos.models import Alert

    m = Monitor.objects.create(
        name="db", kind="tcp", target="db.example:5432", failure_threshold=1, sos_group=sos_group()
    )
    now = noon_tomorrow()
    down = record(m, now, "failed")
    status.maintenance_save(
        title="Emergency fix",
        starts_at=now + timedelta(minutes=1),
        ends_at=now + timedelta(hours=1),
        recurrence="once",
        timezone="UTC",
        monitors=[m],
    )

    up = record(m, now + timedelta(minutes=30), "ok")

    assert "suppressed" not in up.reason
    assert Alert.objects.get(pk=up.alert_id).severity == "info"
    assert Alert.objects.get(pk=down.alert_id).status == "resolved"


@pytest.mark.django_db
def test_a_monitor_still_down_when_maintenance_ends_alerts_once_then_recovers_loudly():
    from modules.sos.models import Alert

    m = Monitor.objects.create(
        name="db", kind="tcp", target="db.example:5432", failure_threshold=1, sos_group=sos_group()
    )
    start = noon_tomorrow()
    status.maintenance_save(
        title="Database upgrade",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        recurrence="once",
        timezone="UTC",
        monitors=[m],
    )

    down = record(m, start + timedelta(minutes=10), "failed")
    record(m, start + timedelta(minutes=50), "failed")  # still inside the window: quiet
    assert not Alert.objects.exists()

    record(m, start + timedelta(hours=1, minutes=1), "failed")  # the first run after it ended
    alert = Alert.objects.get()
    assert (alert.severity, alert.status) == ("critical", "open")
    assert f"down since {start:%Y-%m-%d} 12:10 UTC, during maintenance" in alert.message
    down.refresh_from_db()
    assert down.alert_id == alert.pk
    assert "alerted when maintenance ended" in down.reason

    record(m, start + timedelta(hours=1, minutes=2), "failed")  # once, not every run
    assert Alert.objects.count() == 1

    up = record(m, start + timedelta(hours=1, minutes=3), "ok")  # it was alerted: so is this
    assert "suppressed" not in up.reason
    assert Alert.objects.get(pk=up.alert_id).severity == "info"
    assert Alert.objects.get(pk=alert.pk).status == "resolved"


@pytest.mark.django_db
def test_a_monitor_that_recovers_before_its_window_ends_is_never_alerted():
    from modules.sos.models import Alert

    m = Monitor.objects.create(
        name="db", kind="tcp", target="db.example:5432", failure_threshold=1, sos_group=sos_group()
    )
    start = noon_tomorrow()
    status.maintenance_save(
        title="Database upgrade",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        recurrence="once",
        timezone="UTC",
        monitors=[m],
    )

    record(m, start + timedelta(minutes=10), "failed")
    record(m, start + timedelta(minutes=50), "ok")
    record(m, start + timedelta(hours=1, minutes=1), "ok")

    assert not Alert.objects.exists()
