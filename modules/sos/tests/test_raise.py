"""alert_raise: who is reached, in one transaction, idempotently, and deduplicated."""

from __future__ import annotations

import pytest

from modules.sos import services
from modules.sos.errors import IdempotencyConflict, InvalidAlert, NoRecipients, UnknownRecipient
from modules.sos.models import Alert, AlertEvent, ContactMethod, Delivery


@pytest.fixture
def team(make_contact):
    ann = make_contact("Ann", email="ann@example.com", phone="+15555550100", groups=["ops", "all"])
    bob = make_contact("Bob", email="bob@example.com", groups=["ops"])
    cid = make_contact("Cid", webhook="http://127.0.0.1:9/hook", groups=["all"])
    return ann, bob, cid


def test_fans_out_once_per_contact_method_across_overlapping_groups(team):
    alert = services.alert_raise(message="Fire", groups=["ops", "all"]).alert
    rows = sorted(alert.deliveries.values_list("contact_name", "kind"))
    assert rows == [("Ann", "email"), ("Ann", "sms"), ("Bob", "email"), ("Cid", "webhook")]
    assert all(d.state == "pending" and d.next_attempt_at for d in alert.deliveries.all())
    assert set(alert.groups.values_list("name", flat=True)) == {"ops", "all"}


def test_accepts_groups_and_contacts_as_objects_ids_or_names(team):
    ann, bob, _cid = team
    ops = ann.groups.get(name="ops")
    alert = services.alert_raise(message="Fire", groups=[ops.pk], contacts=["Cid", bob]).alert
    assert alert.deliveries.count() == 4


def test_reaches_one_address_once_even_when_two_contacts_share_it(make_contact):
    make_contact("Desk A", email="desk@example.com", groups=["desk"])
    make_contact("Desk B", email="DESK@example.com", groups=["desk"])
    alert = services.alert_raise(message="Fire", groups=["desk"]).alert
    assert alert.deliveries.count() == 1


def test_filters_by_channel_and_skips_disabled_methods_and_inactive_contacts(team):
    _ann, bob, cid = team
    ContactMethod.objects.filter(contact=bob).update(is_enabled=False)
    cid.is_active = False
    cid.save()
    alert = services.alert_raise(message="Fire", groups=["all", "ops"], channels=["email"]).alert
    assert list(alert.deliveries.values_list("contact_name", "kind")) == [("Ann", "email")]


def test_a_dry_run_lists_recipients_and_writes_nothing(team):
    preview = services.alert_preview(message="Fire", groups=["ops"])
    assert preview.alert.pk is None
    assert [r.as_dict()["contact_name"] for r in preview.recipients] == ["Ann", "Ann", "Bob"]
    assert not Alert.objects.exists()


def test_refuses_an_alert_that_reaches_nobody(make_contact):
    make_contact("Nobody", groups=["empty"])
    with pytest.raises(NoRecipients):
        services.alert_raise(message="Fire", groups=["empty"])
    assert not Alert.objects.exists()


def test_names_unknown_groups(team):
    with pytest.raises(UnknownRecipient, match="nope"):
        services.alert_raise(message="Fire", groups=["ops", "nope"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"message": "  "},
        {"message": "x", "severity": "apocalyptic"},
        {"message": "x", "channels": ["pigeon"]},
        {"message": "x", "location": {"lat": 91, "lon": 0}},
        {"message": "x", "location": {"lat": "north"}},
    ],
)
def test_validates_its_input(team, kwargs):
    with pytest.raises(InvalidAlert):
        services.alert_raise(groups=["ops"], **kwargs)


def test_the_same_idempotency_key_returns_the_same_alert(team, operator):
    first = services.alert_raise(
        message="Fire", groups=["ops"], raised_by=operator, idempotency_key="k1"
    ).alert
    again = services.alert_raise(
        message="Fire", groups=["ops"], raised_by=operator, idempotency_key="k1"
    )
    assert again.alert.pk == first.pk
    assert again.replayed
    assert not again.created
    assert Alert.objects.count() == 1
    assert Delivery.objects.count() == 3


def test_an_idempotency_key_is_scoped_per_user(team, operator):
    from portal.test import make_user

    other = make_user("otto")
    a = services.alert_raise(
        message="Fire", groups=["ops"], raised_by=operator, idempotency_key="k"
    ).alert
    b = services.alert_raise(
        message="Fire", groups=["ops"], raised_by=other, idempotency_key="k"
    ).alert
    assert a.pk != b.pk


def test_reusing_an_idempotency_key_for_another_alert_is_refused(team, operator):
    services.alert_raise(message="Fire", groups=["ops"], raised_by=operator, idempotency_key="k")
    with pytest.raises(IdempotencyConflict):
        services.alert_raise(
            message="Flood", groups=["ops"], raised_by=operator, idempotency_key="k"
        )


def test_a_dedup_key_folds_repeats_into_the_open_alert(team):
    first = services.alert_raise(message="db down", groups=["ops"], dedup_key="netprobe:7").alert
    again = services.alert_raise(message="db down", groups=["ops"], dedup_key="netprobe:7")
    assert again.alert.pk == first.pk
    assert again.deduplicated
    first.refresh_from_db()
    assert first.dedup_count == 1
    assert Delivery.objects.count() == 3
    assert AlertEvent.objects.filter(kind="deduplicated").count() == 1
    services.alert_resolve(dedup_key="netprobe:7")
    third = services.alert_raise(message="db down", groups=["ops"], dedup_key="netprobe:7").alert
    assert third.pk != first.pk


def test_a_test_alert_goes_to_one_method_even_a_disabled_one(team):
    ann = team[0]
    method = ann.methods.get(kind="sms")
    method.is_enabled = False
    method.save()
    alert = services.contact_method_test(method=method).alert
    assert alert.is_test
    assert alert.severity == "info"
    assert list(alert.deliveries.values_list("method_id", flat=True)) == [method.pk]


def test_raising_logs_the_event_and_schedules_reminders_when_ack_is_required(team, settings):
    settings.SOS_REMINDER_INTERVAL_MIN = 5
    alert = services.alert_raise(
        message="Fire", groups=["ops"], require_ack=True, reminder_max=2
    ).alert
    (event,) = alert.events.all()
    assert event.kind == "raised"
    assert event.data["deliveries"] == 3
    assert alert.reminder_max == 2
    assert alert.reminder_interval_min == 5
    assert (alert.next_reminder_at - alert.created_at).total_seconds() == pytest.approx(300, abs=2)


def test_the_event_log_is_append_only(team):
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    event = alert.events.get()
    event.message = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
