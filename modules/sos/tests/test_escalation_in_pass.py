"""An escalation step that falls due while a pass works through a backlog runs within that
pass (as expired leases are reclaimed), not only when the next pass starts."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from modules.sos import services
from modules.sos.models import Alert, Delivery
from modules.sos.outbox import dispatch as dispatch_module
from modules.sos.tests.test_escalation import policy


def test_a_step_due_during_a_long_pass_is_sent_in_that_pass(
    make_contact, receiver, dispatch, settings, monkeypatch
):
    # The pass checks for due steps every ESCALATE_S; a second keeps this test short.
    monkeypatch.setattr(dispatch_module, "ESCALATE_S", 1.0)
    settings.SOS_RATE_WEBHOOK = 10  # 20 messages: a pass of about two seconds
    for i in range(19):
        make_contact(f"P{i}", webhook=receiver.url(f"/p{i}"), groups=["crowd"])
    make_contact("Ann", webhook=receiver.url("/ann"), groups=["ops"])
    make_contact("Cid", webhook=receiver.url("/cid"), groups=["leads"])
    policy("night", {"groups": ["leads"], "delay_min": 5})
    services.alert_raise(message="Smoke", groups=["crowd"])
    alert = services.alert_raise(message="Fire", groups=["ops"], escalation_policy="night").alert
    Alert.objects.filter(pk=alert.pk).update(
        next_escalation_at=timezone.now() + timedelta(milliseconds=500)
    )
    report = dispatch()
    assert report.reminders == 1  # the step ran while the backlog was going out
    assert report.claimed >= 21  # and its message was taken up in the same pass
    assert Delivery.objects.filter(alert=alert, contact_name="Cid").exists()
