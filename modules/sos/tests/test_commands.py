"""Management commands: sos_raise, sos_worker (--once, graceful SIGTERM), sos_sweep."""

from __future__ import annotations

import os
import signal
import threading
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from modules.sos.models import Alert, Delivery
from modules.sos.tests.peers import Reply


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_sos_raise_raises_to_a_group(make_contact):
    make_contact("Ann", email="ann@example.com", phone="+15555550100", groups=["ops"])
    out = run("sos_raise", "--group", "ops", "--message", "Power outage", "--severity", "warning")
    alert = Alert.objects.get()
    assert f"Alert #{alert.pk} raised to 2 contact methods" in out
    assert alert.source == "cli"
    assert alert.severity == "warning"


def test_sos_raise_dry_run_lists_recipients(make_contact):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    out = run("sos_raise", "-g", "ops", "-m", "x", "--dry-run")
    assert "email    Ann <ann@example.com>" in out
    assert not Alert.objects.exists()


def test_sos_raise_reports_errors(db):
    with pytest.raises(CommandError, match="unknown_recipient"):
        run("sos_raise", "--group", "nobody", "--message", "x")
    with pytest.raises(CommandError, match="--group or --contact"):
        run("sos_raise", "--message", "x")


def test_sos_worker_once_drains_what_is_due(make_contact):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    run("sos_raise", "-g", "ops", "-m", "Fire")
    out = run("sos_worker", "--once")
    assert "sent 1" in out
    assert len(mail.outbox) == 1
    assert Delivery.objects.get().state == "sent"


def test_sos_sweep_runs_one_bounded_pass(make_contact):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    run("sos_raise", "-g", "ops", "-m", "Fire")
    assert "sent 1" in run("sos_sweep", "--max-seconds", "5")


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(),
    reason="signal handlers can only be installed from the main thread",
)
def test_sos_worker_finishes_sends_in_flight_on_sigterm_and_claims_no_more(make_contact, receiver):
    for i in range(6):
        make_contact(f"Bot {i}", webhook=receiver.url(f"/hook{i}"), groups=["bots"])
        receiver.script(f"/hook{i}", Reply(200, delay=0.3))
    receiver.on_request = lambda request: os.kill(os.getpid(), signal.SIGTERM)
    run("sos_raise", "-g", "bots", "-m", "Fire")
    out = run("sos_worker", "--workers", "1", "--poll", "0.1")
    # The send in flight when the signal came finishes and is recorded; the rows claimed but
    # not started are handed back (due at once, attempt not counted); nothing more is claimed.
    rows = list(Delivery.objects.values_list("state", "attempts", "lease_token"))
    assert sorted(rows) == [("pending", 0, "")] * 5 + [("sent", 1, "")]
    assert len(receiver.requests) == 1
    assert "sent 1" in out
