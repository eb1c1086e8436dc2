"""PostgreSQL's one-statement claim and outcome writes (outbox/pg_bulk.py) keep the engine's
promises: an outcome lands only on a row whose lease is still held, every attempt is logged
naming its recipient, and the contact method tells whether its address works."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from modules.sos import services
from modules.sos.channels import ChannelError, Sent
from modules.sos.models import AlertEvent, ContactMethod, Delivery, SmsOptOut
from modules.sos.outbox.claims import Outcome, PassReport, claim_due, record_outcomes

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the one-statement writes are PostgreSQL's"
)


def _raise(make_contact, names: list[str]) -> list:
    for name in names:
        make_contact(name, webhook=f"https://hooks.example.com/{name}", groups=["ops"])
    services.alert_raise(message="Fire in building 2", groups=["ops"])
    return claim_due(now=timezone.now(), limit=10)


def test_it_writes_only_the_outcomes_whose_lease_is_still_held(make_contact):
    jobs = _raise(make_contact, ["Ann", "Bob", "Cid"])
    lost = next(job for job in jobs if job.contact_name == "Cid")
    Delivery.objects.filter(pk=lost.delivery_id).update(lease_token="another-worker")
    report = PassReport()

    record_outcomes(
        [Outcome(job, Sent(f"id-{job.contact_name}"), None, 7) for job in jobs],
        now=timezone.now(),
        report=report,
    )

    assert (report.sent, report.stale) == (2, 1)
    rows = {row.contact_name: row for row in Delivery.objects.all()}
    assert rows["Ann"].state == "sent"
    assert rows["Ann"].provider_message_id == "id-Ann"
    assert rows["Ann"].lease_token == ""
    assert rows["Ann"].lease_until is None
    assert rows["Cid"].state == "sending"
    assert rows["Cid"].lease_token == "another-worker"
    events = {e.data["recipient"]: e for e in AlertEvent.objects.filter(kind="attempt")}
    assert events["Bob"].message == "Webhook to Bob: sent (attempt 1)"
    assert events["Bob"].data["to"] == "sent"
    assert events["Bob"].delivery_id == rows["Bob"].pk
    assert events["Cid"].data["stale"] is True
    assert "after the lease was lost" in events["Cid"].message
    methods = {m.contact.name: m for m in ContactMethod.objects.select_related("contact")}
    assert methods["Ann"].last_success_at is not None
    assert methods["Cid"].last_success_at is None


def test_a_permanent_failure_fails_the_row_and_marks_the_contact_method(make_contact):
    jobs = _raise(make_contact, ["Ann", "Bob"])
    report = PassReport()

    record_outcomes(
        [Outcome(job, None, ChannelError("HTTP 404 Not Found", permanent=True), 3) for job in jobs],
        now=timezone.now(),
        report=report,
    )

    assert report.failed == 2
    assert set(Delivery.objects.values_list("state", "last_error")) == {
        ("failed", "HTTP 404 Not Found")
    }
    for method in ContactMethod.objects.all():
        assert method.last_error == "HTTP 404 Not Found"
        assert method.last_error_at is not None
    assert AlertEvent.objects.filter(kind="attempt", data__to="failed").count() == 2


def test_a_claim_reads_each_row_with_its_alert_and_contact_method(make_contact):
    make_contact("Ann", phone="+15555550100", groups=["ops"])
    SmsOptOut.objects.create(number="+15555550100", opted_out_at=timezone.now())
    jobs = {job.kind: job for job in _raise(make_contact, ["Bob"])}
    sms, webhook = jobs["sms"], jobs["webhook"]

    assert sms.refuse == "recipient opted out (STOP)"
    assert webhook.refuse == ""
    assert webhook.message == "Fire in building 2"
    assert webhook.secret == ContactMethod.objects.get(kind="webhook").secret
    assert webhook.attempt == 1
    assert webhook.lease_until is not None
    row = Delivery.objects.get(pk=webhook.delivery_id)
    assert (row.state, row.lease_token, row.attempts) == ("sending", webhook.lease_token, 1)
