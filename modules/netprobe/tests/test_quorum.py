"""Monitors across locations: each location's own streaks, the overall state by quorum, alerts
that name the failing locations, an unavailable vantage counted as unknown."""

from __future__ import annotations

import pytest

from modules.netprobe import services
from modules.netprobe.models import MonitorLocation, ProbeResult, Vantage

from .locations_support import SECRET, play
from .locations_support import multi_monitor as monitor

pytestmark = pytest.mark.usefixtures("np_settings")


def sos_group():
    from modules.sos.models import Contact, ContactMethod, Group

    group = Group.objects.create(name="on-call")
    contact = Contact.objects.create(name="on-call person")
    ContactMethod.objects.create(contact=contact, kind="email", address="oncall@example.com")
    group.members.add(contact)
    return group


@pytest.mark.django_db
def test_it_goes_down_only_when_a_majority_fails_in_the_same_round(answers):
    m = monitor()

    rounds = play(m, answers, "ooo", "xoo", "oxo", "oox", "xxo")

    assert [r.change and r.change.to_state for r in rounds] == ["up", None, None, None, "down"]
    assert rounds[-1].failing == ["local", "eu-west-1"]
    assert (rounds[-1].quorum, rounds[-1].count) == (2, 3)
    m.refresh_from_db()
    assert m.state == "down"
    assert "down from local, eu-west-1 (2 of 3)" in m.transitions.first().reason


@pytest.mark.django_db
def test_a_location_is_failing_only_once_its_own_streak_reaches_the_failure_threshold(answers):
    m = monitor(failure_threshold=2)

    rounds = play(m, answers, "ooo", "xxo", "oxx", "xxo", "xxo")

    # Round 2: two fail, but each only once. Round 3: eu-west-1 twice (down), ap-south-1 once.
    # Round 4: local has one failure, eu-west-1 three. Round 5: both at two or more.
    assert [r.failing for r in rounds] == [
        [],
        [],
        ["eu-west-1"],
        ["eu-west-1"],
        ["local", "eu-west-1"],
    ]
    assert [r.change and r.change.to_state for r in rounds] == ["up", None, None, None, "down"]
    states = dict(MonitorLocation.objects.filter(monitor=m).values_list("location", "state"))
    assert states == {"local": "down", "eu-west-1": "down", "ap-south-1": "up"}


@pytest.mark.django_db
def test_one_location_failing_for_many_rounds_under_a_quorum_of_2_raises_no_alert(answers):
    from modules.sos.models import Alert

    m = monitor(sos_group=sos_group(), quorum=2)

    rounds = play(m, answers, *["oxo"] * 60)

    assert [r.change.to_state for r in rounds if r.change] == ["up"]
    assert Alert.objects.count() == 0
    assert MonitorLocation.objects.get(monitor=m, location="eu-west-1").consecutive_failures == 60
    assert ProbeResult.objects.filter(monitor=m).count() == 180


@pytest.mark.django_db
def test_the_alert_names_the_failing_locations_and_the_recovery_resolves_it(answers):
    from modules.sos.models import Alert

    m = monitor(sos_group=sos_group())

    _, down, up = play(m, answers, "ooo", "oxx", "ooo")

    alert = Alert.objects.get(pk=down.change.alert_id)
    assert alert.severity == "critical"
    assert alert.dedup_key == f"netprobe-monitor-{m.pk}"
    assert "down from eu-west-1, ap-south-1 (2 of 3)" in alert.message
    assert "503" in alert.message
    recovery = Alert.objects.get(pk=up.change.alert_id)
    assert recovery.severity == "info"
    assert "answers again from 3 of 3 locations" in recovery.message
    alert.refresh_from_db()
    assert alert.status == "resolved"


@pytest.mark.django_db
def test_an_unavailable_vantage_is_unknown_neither_failing_nor_succeeding(answers):
    m = monitor(failure_threshold=2)

    rounds = play(m, answers, "ooo", "x?o", "x?o", "o?o", "??o")

    eu = MonitorLocation.objects.get(monitor=m, location="eu-west-1")
    assert (eu.state, eu.consecutive_successes, eu.consecutive_failures) == ("up", 1, 0)
    assert eu.unavailable_reason == "connection refused"
    assert eu.last_measurement == ProbeResult.objects.filter(monitor=m).latest("id").measurement
    # Local down and eu-west-1 unknown: 1 failing of a quorum of 2 never takes it down.
    assert [r.change and r.change.to_state for r in rounds] == ["up", None, None, None, None]
    assert rounds[2].failing == ["local"]
    assert rounds[2].unavailable == ["eu-west-1"]
    assert ProbeResult.objects.filter(monitor=m, location="eu-west-1").count() == 1


@pytest.mark.django_db
def test_while_unavailable_vantages_leave_the_verdict_open_the_state_is_kept(answers):
    m = monitor()

    rounds = play(m, answers, "ooo", "xxo", "x??", "o??", "oo?")

    # Down with 2 of 3; then local alone failing and two unknown: it could still be 3 of 3,
    # so it stays down; local alone answering ok could still hide 2 failures; 2 up settles it.
    assert [r.change and r.change.to_state for r in rounds] == ["up", "down", None, None, "up"]


@pytest.mark.django_db
def test_recovery_needs_each_locations_recovery_threshold(answers):
    m = monitor(recovery_threshold=2)

    rounds = play(m, answers, "ooo", "ooo", "xxx", "ooo", "ooo")

    assert [r.change and r.change.to_state for r in rounds] == [None, "up", "down", None, "up"]
    assert "up from 3 of 3 locations" in m.transitions.first().reason


@pytest.mark.django_db
def test_an_explicit_quorum_of_3_needs_every_location(answers):
    m = monitor(quorum=3)

    rounds = play(m, answers, "ooo", "xxo", "xxx")

    assert [r.change and r.change.to_state for r in rounds] == ["up", None, "down"]


@pytest.mark.django_db
def test_the_rounds_rows_share_one_measurement_and_name_their_location(answers):
    m = monitor()

    play(m, answers, "oo?")

    rows = list(ProbeResult.objects.filter(monitor=m).order_by("location"))
    assert [r.location for r in rows] == ["eu-west-1", "local"]
    assert len({r.measurement for r in rows}) == 1
    assert rows[0].measurement is not None
    m.refresh_from_db()
    assert m.last_result.location == "local"  # nothing failing: the first row


@pytest.mark.django_db
def test_a_single_location_monitor_has_no_location_rows(answers, tcp_listener):
    m = services.monitor_create(name="hub", kind="tcp", target=tcp_listener.target)

    services.monitor_run_due()

    m.refresh_from_db()
    assert m.state == "up"
    assert m.consecutive_successes == 1
    assert not MonitorLocation.objects.filter(monitor=m).exists()
    assert ProbeResult.objects.get(monitor=m).measurement is None


@pytest.mark.django_db
def test_a_run_stores_the_answering_locations_and_counts_a_dark_vantage_unknown(http_server):
    Vantage.objects.create(name="dark", url="http://127.0.0.1:9/", secret=SECRET)
    m = services.monitor_create(
        name="two places",
        kind="http",
        target=f"{http_server.url}/",
        failure_threshold=1,
        locations=["local", "dark"],
    )

    summary = services.monitor_run_due()

    assert summary.ran == 1
    assert summary.ok == 1
    rows = ProbeResult.objects.filter(monitor=m)
    assert [r.location for r in rows] == ["local"]
    states = {s.location: s for s in MonitorLocation.objects.filter(monitor=m)}
    assert states["local"].state == "up"
    assert states["dark"].state == "unknown"
    assert states["dark"].unavailable_reason
    m.refresh_from_db()
    # Quorum 2 of 2: one up, one unknown; even failing, the dark one alone is under quorum.
    assert m.state == "up"


@pytest.mark.django_db
def test_pausing_and_resuming_starts_every_location_afresh(answers):
    m = monitor()
    play(m, answers, "oxx")

    services.monitor_pause(monitor=m)
    services.monitor_resume(monitor=m)

    states = MonitorLocation.objects.filter(monitor=m).values_list("state", "consecutive_failures")
    assert set(states) == {("unknown", 0)}
    m.refresh_from_db()
    assert m.state == "unknown"


@pytest.mark.django_db
def test_a_paused_monitors_late_round_changes_no_state(answers):
    m = monitor()
    services.monitor_pause(monitor=m)

    (played,) = play(m, answers, "xxx")

    assert played.change is None
    m.refresh_from_db()
    assert m.state == "paused"
    assert set(MonitorLocation.objects.filter(monitor=m).values_list("state", flat=True)) == {
        "unknown"
    }


@pytest.mark.django_db
def test_maintenance_silences_the_outage_and_the_alert_owed_after_it_names_the_locations(
    answers,
):
    from datetime import timedelta

    from django.utils import timezone

    from modules.netprobe import status
    from modules.sos.models import Alert

    m = monitor(sos_group=sos_group())
    now = timezone.now()
    status.maintenance_save(
        title="Network work",
        starts_at=now - timedelta(minutes=30),
        ends_at=now + timedelta(minutes=30),
        recurrence="once",
        timezone="UTC",
        monitors=[m],
    )

    _, down = play(m, answers, "ooo", "xxo", now=now)
    play(m, answers, "xxo", now=now + timedelta(hours=1))

    assert "alert suppressed: maintenance 'Network work'" in down.change.reason
    alert = Alert.objects.get()
    assert "down from local, eu-west-1 (2 of 3)" in alert.message
    assert "during maintenance" in alert.message


@pytest.mark.django_db
def test_a_certificate_about_to_expire_is_warned_about_from_any_location(https_server):
    Vantage.objects.create(name="dark", url="http://127.0.0.1:9/", secret=SECRET)
    services.monitor_create(
        name="secure",
        kind="http",
        target=https_server.url,
        cert_expiry_days=3650,
        locations=["dark", "local"],
    )

    summary = services.monitor_run_due()

    assert summary.cert_warnings == 1


@pytest.mark.django_db
def test_all_follows_the_enabled_vantages_and_quorum_is_checked_against_them(tcp_listener):
    from modules.netprobe.monitoring import MonitorInvalid

    Vantage.objects.create(name="a-1", url="http://127.0.0.1:9/", secret=SECRET)
    Vantage.objects.create(name="b-1", url="http://127.0.0.1:9/", secret=SECRET, enabled=False)
    fields = {"name": "all", "kind": "tcp", "target": tcp_listener.target, "locations": ["all"]}

    with pytest.raises(MonitorInvalid) as refused:
        services.monitor_create(**fields, quorum=3)
    m = services.monitor_create(**fields, quorum=2)
    Vantage.objects.filter(name="b-1").update(enabled=True)
    services.monitor_run_due()

    assert refused.value.details["fields"]["quorum"] == [
        "must be between 1 and 2 (the monitor runs at 2 locations)"
    ]
    places = set(MonitorLocation.objects.filter(monitor=m).values_list("location", flat=True))
    assert places == {"local", "a-1", "b-1"}


@pytest.mark.django_db
def test_changing_the_locations_starts_afresh_and_forgets_the_old_rows(answers):
    m = monitor()
    play(m, answers, "oxo")

    services.monitor_update(monitor=m, locations=["local", "eu-west-1"])

    assert not MonitorLocation.objects.filter(monitor=m).exists()
    m.refresh_from_db()
    assert (m.state, m.locations) == ("unknown", ["local", "eu-west-1"])
    assert m.transitions.first().reason == "probe changed"


@pytest.mark.django_db
def test_a_monitor_naming_a_disabled_vantage_stays_editable_and_counts_it_unknown(answers):
    m = monitor()
    Vantage.objects.filter(name="ap-south-1").update(enabled=False)

    services.monitor_update(monitor=m, name="shop front")
    summary = services.monitor_run_due()

    assert summary.ran == 1
    place = MonitorLocation.objects.get(monitor=m, location="ap-south-1")
    assert place.unavailable_reason == "no enabled vantage named 'ap-south-1'"
