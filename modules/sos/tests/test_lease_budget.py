"""A claimed delivery goes out only while its lease still covers the send: a queued job whose
lease ran short is handed back unsent, a pass claims no more than the lease can cover, and a
lease shorter than one send stops start-up."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from modules.sos import services
from modules.sos.models import Contact, ContactMethod, Delivery, Group
from modules.sos.outbox import leases
from modules.sos.outbox.claims import PassReport, claim_due, record_outcomes
from modules.sos.outbox.dispatch import default_channels, process_due_deliveries, send_job

ROOT = Path(__file__).resolve().parents[3]


def test_a_job_whose_lease_is_nearly_over_is_handed_back_unsent(
    make_contact, receiver, dispatch, settings
):
    make_contact("Bot", webhook=receiver.url(), groups=["ops"])
    long_ago = timezone.now() - timedelta(seconds=settings.SOS_LEASE_S - 2)
    alert = services.alert_raise(message="Fire", groups=["ops"], now=long_ago).alert
    (job,) = claim_due(now=long_ago, limit=10)  # queued since then: 2 s of lease left
    with default_channels() as channels:
        outcome = send_job(channels, job)
    assert receiver.requests == []
    report = PassReport()
    record_outcomes([outcome], now=timezone.now(), report=report)
    assert report.released == 1
    delivery = alert.deliveries.get()
    assert (delivery.state, delivery.attempts, delivery.lease_token) == ("pending", 0, "")
    assert not alert.events.filter(kind="attempt").exists()
    dispatch()
    assert len(receiver.requests) == 1
    assert alert.deliveries.get().state == "sent"


def test_a_job_with_a_whole_send_of_lease_left_is_sent(make_contact, receiver, settings):
    make_contact("Bot", webhook=receiver.url(), groups=["ops"])
    services.alert_raise(message="Fire", groups=["ops"])
    (job,) = claim_due(now=timezone.now(), limit=10)
    with default_channels() as channels:
        outcome = send_job(channels, job)
    assert outcome.error is None
    assert len(receiver.requests) == 1


def test_a_pass_claims_only_as_many_sends_as_the_lease_covers():
    assert leases.claim_rounds(lease_s=90, timeout_s=10) == 4
    assert leases.claim_rounds(lease_s=32, timeout_s=10) == 3
    assert leases.claim_rounds(lease_s=25, timeout_s=10) == 2
    assert leases.claim_rounds(lease_s=12, timeout_s=10) == 1


def test_a_lease_shorter_than_one_send_stops_the_dispatcher(db, settings):
    settings.SOS_LEASE_S = 10
    settings.SOS_SEND_TIMEOUT_S = 10.0
    with pytest.raises(ImproperlyConfigured, match="SOS_LEASE_S"):
        process_due_deliveries()


def test_smtp_mail_counts_its_own_timeout(settings):
    settings.SOS_SEND_TIMEOUT_S = 5.0
    settings.SOS_EMAIL_BACKEND = "smtp"
    settings.EMAIL_TIMEOUT = 30
    settings.SOS_LEASE_S = 20
    with pytest.raises(ImproperlyConfigured, match="SOS_LEASE_S"):
        leases.check_lease_settings()
    settings.SOS_EMAIL_BACKEND = "ses"
    leases.check_lease_settings()


@pytest.mark.nodb
def test_a_lease_shorter_than_one_send_stops_start_up():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SOS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        SECRET_KEY="x" * 50,
        DEBUG="1",
        SOS_LEASE_S="8",
        SOS_SEND_TIMEOUT_S="10",
    )
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SOS_LEASE_S" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_with_a_short_lease_and_a_slow_peer_send_each_message_once(
    receiver, settings, monkeypatch
):
    # Each send takes 1 s; a 3.2 s lease covers one send but not a queue of four. Whoever
    # claimed a queue of four would start the fourth send with 0.2 s of lease left, and the
    # other dispatcher would take the row over when the lease ran out and send it too.
    monkeypatch.setattr(leases, "SEND_MARGIN_S", 0.2)
    settings.SOS_LEASE_S = 3.2
    settings.SOS_SEND_TIMEOUT_S = 2.5
    receiver.on_request = lambda request: time.sleep(1.0)
    group = Group.objects.create(name="everyone")
    for i in range(4):
        contact = Contact.objects.create(name=f"c{i}")
        ContactMethod.objects.create(
            contact=contact, kind="webhook", address=receiver.url(f"/hook?n={i}")
        )
        group.members.add(contact)
    services.alert_raise(message="Fire", groups=["everyone"])
    errors: list[BaseException] = []

    def run() -> None:
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                process_due_deliveries(workers=1)
                if not Delivery.objects.filter(state__in=["pending", "sending"]).exists():
                    return
                time.sleep(0.05)
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    keys = Counter(r.headers["Idempotency-Key"] for r in receiver.requests)
    assert len(keys) == 4
    assert set(keys.values()) == {1}, keys
    assert Delivery.objects.filter(state="sent").count() == 4
