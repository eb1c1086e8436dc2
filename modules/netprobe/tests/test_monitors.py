"""Monitors: the state machine, SOS alerts on down and recovery, claiming due runs, history."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import DatabaseError, connections
from django.utils import timezone

from modules.netprobe import monitor_runs, services
from modules.netprobe.models import Monitor, MonitorTransition, ProbeResult
from modules.netprobe.selectors import monitor_series

from .support import make_result

pytestmark = pytest.mark.usefixtures("np_settings")


def monitor(**fields):
    values = {
        "name": "shop",
        "kind": "tcp",
        "target": "shop.example:443",
        "failure_threshold": 2,
        "recovery_threshold": 2,
    }
    return Monitor.objects.create(**{**values, **fields})


def feed(m: Monitor, *outcomes: str) -> list[MonitorTransition | None]:
    return [
        services.monitor_record(monitor=m, result=make_result(monitor=m, status=o))
        for o in outcomes
    ]


def sos_group(name: str = "on-call", *, with_member: bool = True):
    from modules.sos.models import Contact, ContactMethod, Group

    group = Group.objects.create(name=name)
    if with_member:
        contact = Contact.objects.create(name=f"{name} person")
        ContactMethod.objects.create(contact=contact, kind="email", address="oncall@example.com")
        group.members.add(contact)
    return group


@pytest.mark.django_db
def test_n_failures_take_it_down_and_m_successes_bring_it_up():
    m = monitor()

    changes = feed(m, "ok", "ok", "failed", "failed", "failed", "ok", "ok", "ok")

    assert [c and (c.from_state, c.to_state) for c in changes] == [
        None,
        ("unknown", "up"),
        None,
        ("up", "down"),
        None,
        None,
        ("down", "up"),
        None,
    ]
    m.refresh_from_db()
    assert (m.state, m.consecutive_successes, m.consecutive_failures) == ("up", 3, 0)
    assert m.last_result == ProbeResult.objects.filter(monitor=m).first()
    down = m.transitions.get(to_state="down")
    assert down.reason.startswith("2 consecutive failure(s); last: connect: connection refused")
    assert down.alert_id is None
    assert down.alert_error == ""  # no SOS group: nothing to alert, nothing failed


@pytest.mark.django_db
def test_goes_down_from_unknown_and_a_paused_monitor_stays_paused():
    m = monitor(failure_threshold=1)
    paused = monitor(name="paused", enabled=False, state="paused", failure_threshold=1)

    (change,) = feed(m, "failed")
    feed(paused, "failed", "failed")

    assert (change.from_state, change.to_state) == ("unknown", "down")
    paused.refresh_from_db()
    assert paused.state == "paused"
    assert not paused.transitions.exists()


@pytest.mark.django_db
def test_going_down_raises_an_sos_alert_and_recovering_resolves_it():
    from modules.sos.models import Alert

    group = sos_group()
    m = monitor(sos_group=group, recovery_threshold=1)

    _, down = feed(m, "failed", "failed")
    (up,) = feed(m, "ok")

    alert = Alert.objects.get(pk=down.alert_id)
    assert (alert.severity, alert.source, alert.dedup_key) == (
        "critical",
        "netprobe",
        f"netprobe-monitor-{m.pk}",
    )
    assert "'shop' is DOWN" in alert.message
    assert list(alert.groups.all()) == [group]
    assert alert.deliveries.count() == 1
    recovery = Alert.objects.get(pk=up.alert_id)
    assert (recovery.severity, recovery.dedup_key) == ("info", f"netprobe-monitor-{m.pk}-recovered")
    assert "recovered" in recovery.message
    alert.refresh_from_db()
    assert alert.status == "resolved"
    m.transitions.update()
    assert not m.transitions.exclude(alert_error="").exists()


@pytest.mark.django_db
def test_a_second_outage_pages_again():
    from modules.sos.models import Alert

    m = monitor(sos_group=sos_group(), failure_threshold=1, recovery_threshold=1)

    feed(m, "failed", "ok", "failed")

    downs = Alert.objects.filter(severity="critical", dedup_key=f"netprobe-monitor-{m.pk}")
    assert downs.count() == 2
    assert Alert.objects.get(severity="info").status == "resolved"


@pytest.mark.django_db
def test_an_sos_failure_is_recorded_on_the_transition():
    m = monitor(sos_group=sos_group(with_member=False), failure_threshold=1)

    (change,) = feed(m, "failed")

    change.refresh_from_db()
    assert change.to_state == "down"
    assert change.alert_id is None
    assert change.alert_error.startswith("NoRecipients:")


@pytest.mark.django_db
def test_runs_the_due_monitors_once(tcp_listener, closed_port):
    up = services.monitor_create(
        name="up",
        kind="tcp",
        target=tcp_listener.target,
        options={"count": 1},
        interval_s=60,
        failure_threshold=1,
        recovery_threshold=1,
    )
    down = services.monitor_create(
        name="down",
        kind="tcp",
        target=closed_port.target,
        options={"count": 1},
        interval_s=60,
        failure_threshold=1,
        recovery_threshold=1,
    )
    later = monitor(name="later", next_run_at=timezone.now() + timedelta(minutes=5))
    monitor(name="off", enabled=False, state="paused")

    summary = services.monitor_run_due()
    again = services.monitor_run_due()

    assert (summary.due, summary.claimed, summary.ran, summary.ok, summary.failed) == (
        2,
        2,
        2,
        1,
        1,
    )
    assert sorted(summary.transitions) == ["down: unknown -> down", "up: unknown -> up"]
    assert again.due == 0
    for m in (up, down):
        m.refresh_from_db()
        assert m.next_run_at > timezone.now() + timedelta(seconds=55)
    assert (up.state, down.state) == ("up", "down")
    assert down.last_result.error_code == "connect"
    assert not later.results.exists()
    assert ProbeResult.objects.count() == 2
    assert services.monitor_run_due(now=timezone.now() + timedelta(minutes=6)).ran == 3


@pytest.mark.django_db
def test_a_monitor_is_claimed_once():
    m = monitor(next_run_at=timezone.now() - timedelta(seconds=1))
    from modules.netprobe.monitor_runs import _claim

    now = timezone.now()

    assert _claim(m.pk, m.next_run_at, now, 60) is True
    assert _claim(m.pk, m.next_run_at, now, 60) is False  # someone moved next_run_at already


@pytest.mark.django_db(transaction=True)
def test_overlapping_runners_do_not_run_a_monitor_twice(http_server):
    services.monitor_create(
        name="slow",
        kind="http",
        target=f"{http_server.url}/delay/300",
        interval_s=60,
        failure_threshold=1,
        recovery_threshold=1,
    )
    summaries = []

    def runner() -> None:
        try:
            summaries.append(services.monitor_run_due())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)

    assert sum(s.ran for s in summaries) == 1
    assert ProbeResult.objects.count() == 1


def tcp_monitor(name: str, target: str) -> Monitor:
    return services.monitor_create(
        name=name,
        kind="tcp",
        target=target,
        options={"count": 1},
        interval_s=60,
        failure_threshold=1,
        recovery_threshold=1,
    )


# transaction=True: rows are committed as in production, so a foreign key to a deleted monitor
# fails where it would there (inside a test transaction the check is deferred to a rollback).
@pytest.mark.django_db(transaction=True)
def test_deleting_a_monitor_during_a_run_loses_no_other_result(monkeypatch, tcp_listener):
    first, doomed, last = (tcp_monitor(n, tcp_listener.target) for n in ("a", "doomed", "z"))
    run_probes = monitor_runs.run_pairs

    def run_while_an_operator_deletes(pairs, **kwargs):
        results = run_probes(pairs, **kwargs)
        Monitor.objects.get(pk=doomed.pk).delete()  # the probes were in flight
        return results

    monkeypatch.setattr(monitor_runs, "run_pairs", run_while_an_operator_deletes)

    summary = services.monitor_run_due()

    assert (summary.claimed, summary.ran, summary.ok, summary.deleted) == (3, 3, 3, 1)
    assert sorted(summary.transitions) == ["a: unknown -> up", "z: unknown -> up"]
    for m in (first, last):
        m.refresh_from_db()
        assert m.state == "up"
        assert m.last_result.monitor_id == m.pk
    # The deleted monitor's probe was sent: its result stays in history, like its older ones.
    assert ProbeResult.objects.filter(monitor__isnull=True, target=doomed.target).count() == 1
    assert ProbeResult.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_one_monitor_failing_to_record_does_not_lose_the_others(monkeypatch, tcp_listener):
    first, broken, last = (tcp_monitor(n, tcp_listener.target) for n in ("a", "broken", "z"))
    record = monitor_runs.monitor_record

    def record_or_fail(*, monitor, result, now=None):
        if monitor.pk == broken.pk:
            raise DatabaseError("the database hiccuped")
        return record(monitor=monitor, result=result, now=now)

    monkeypatch.setattr(monitor_runs, "monitor_record", record_or_fail)

    summary = services.monitor_run_due()

    assert (summary.ran, summary.errors) == (3, 1)
    assert sorted(summary.transitions) == ["a: unknown -> up", "z: unknown -> up"]
    for m in (first, last):
        m.refresh_from_db()
        assert m.state == "up"
    assert ProbeResult.objects.count() == 3


@pytest.mark.django_db
def test_recording_a_result_for_a_deleted_monitor_is_a_no_op():
    m = monitor()
    row = make_result(monitor=m, status="failed")
    Monitor.objects.filter(pk=m.pk).delete()

    assert services.monitor_record(monitor=m, result=row) is None
    assert not MonitorTransition.objects.exists()


@pytest.mark.django_db
def test_a_refused_target_at_run_time_fails_the_monitor(settings, tcp_listener):
    m = services.monitor_create(
        name="internal",
        kind="tcp",
        target=f"localhost:{tcp_listener.port}",
        options={"count": 1},
        interval_s=60,
        failure_threshold=1,
        recovery_threshold=1,
    )
    settings.EGRESS_ALLOWED_NETWORKS = []
    accepted = tcp_listener.accepted

    services.monitor_run_due()

    m.refresh_from_db()
    assert m.state == "down"
    assert m.last_result.error_code == "forbidden"
    assert tcp_listener.accepted == accepted


@pytest.mark.django_db
def test_options_the_limits_no_longer_allow_fail_the_monitor(settings, tcp_listener):
    m = services.monitor_create(
        name="many",
        kind="tcp",
        target=tcp_listener.target,
        options={"count": 10},
        interval_s=60,
        failure_threshold=1,
        recovery_threshold=1,
    )
    settings.NETPROBE_MAX_COUNT = 4

    services.monitor_run_due()

    m.refresh_from_db()
    assert m.state == "down"
    assert m.last_result.error_code == "unsupported"
    assert "count" in m.last_result.error_message


@pytest.mark.django_db
def test_changing_the_probe_or_resuming_starts_afresh():
    m = services.monitor_create(name="m", kind="tcp", target="example.com:443", interval_s=60)
    feed(m, "failed", "failed", "failed")
    m.refresh_from_db()
    assert m.state == "down"

    services.monitor_update(monitor=m, target="example.org:443")
    assert (m.state, m.consecutive_failures) == ("unknown", 0)
    services.monitor_update(monitor=m, enabled=False)
    assert (m.state, m.next_run_at) == ("paused", None)
    services.monitor_update(monitor=m, enabled=True)
    assert m.state == "unknown"
    assert m.next_run_at is not None
    assert [(t.from_state, t.to_state) for t in m.transitions.order_by("id")] == [
        ("unknown", "down"),
        ("down", "unknown"),
        ("unknown", "paused"),
        ("paused", "unknown"),
    ]


@pytest.mark.django_db
def test_computes_uptime_over_each_window():
    m = monitor()
    for ago, status, ms in [
        (timedelta(hours=1), "ok", 10.0),
        (timedelta(hours=2), "ok", 30.0),
        (timedelta(hours=3), "failed", None),
        (timedelta(days=3), "failed", None),
        (timedelta(days=20), "ok", 50.0),
        (timedelta(days=40), "failed", None),
    ]:
        make_result(monitor=m, ago=ago, status=status, response_ms=ms)
    make_result(ago=timedelta(hours=1), status="failed")  # another monitor's: not counted

    day, week, month = (services.monitor_uptime(m, w) for w in ("24h", "7d", "30d"))

    assert (day.checks, day.ok, day.uptime_percent) == (3, 2, 66.667)
    assert (day.avg_response_ms, day.min_response_ms, day.max_response_ms) == (20.0, 10.0, 30.0)
    assert (week.checks, week.uptime_percent) == (4, 50.0)
    assert (month.checks, month.uptime_percent) == (5, 60.0)
    empty = services.monitor_uptime(monitor(name="new"), "24h")
    assert (empty.checks, empty.uptime_percent) == (0, None)


@pytest.mark.django_db
def test_the_series_buckets_many_checks():
    m = monitor()
    now = timezone.now()
    rows = [
        ProbeResult(
            kind="tcp",
            target=m.target,
            monitor=m,
            status="failed" if i % 10 == 0 else "ok",
            started_at=now - timedelta(minutes=i),
            duration_ms=1,
            response_ms=float(i % 7),
        )
        for i in range(1, 601)
    ]
    ProbeResult.objects.bulk_create(rows)

    raw = monitor_series(m, "24h", now=now, max_points=1000)
    buckets = monitor_series(m, "24h", now=now, max_points=48)

    assert len(raw) == 600
    assert raw[0].at < raw[-1].at
    assert len(buckets) <= 48
    assert sum(p.checks for p in buckets) == 600
    assert sum(p.failures for p in buckets) == 60
    assert all(p.response_ms is not None for p in buckets)


@pytest.mark.django_db
def test_a_run_takes_no_more_monitors_than_the_pool_runs_at_once(settings, tcp_listener):
    settings.NETPROBE_BATCH_WORKERS = 2
    for name in ("a", "b", "c"):
        services.monitor_create(
            name=name, kind="tcp", target=tcp_listener.target, options={"count": 1}, interval_s=60
        )

    first = services.monitor_run_due()
    second = services.monitor_run_due()

    assert (first.due, first.ran, second.ran) == (2, 2, 1)
    assert {m.state for m in Monitor.objects.all()} == {"up"}
