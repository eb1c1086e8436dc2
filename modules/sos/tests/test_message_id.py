"""One stable Message-ID per send of a delivery: every retry carries the same one, so mail
software can merge the copies; a reminder is a new message with a new one."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from modules.sos import services
from modules.sos.channels.base import Target
from modules.sos.channels.email import SesEmailChannel, message_id
from modules.sos.outbox.rendering import render_message
from modules.sos.tests.peers import MailHandler, Reply, SmtpServer


class AcceptsThenLosesTheReply(MailHandler):
    """Takes the whole message, then answers 451 the first time (a reply lost in transit, a
    queue full after DATA): the sender must send the same message again."""

    def __init__(self) -> None:
        super().__init__()
        self.refused_data = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await super().handle_DATA(server, session, envelope)
        if not self.refused_data:
            self.refused_data += 1
            return "451 4.3.0 Temporary failure after DATA"
        return "250 2.0.0 Ok: queued"


@pytest.fixture
def flaky_smtp(settings: Any):
    server = SmtpServer(handler=AcceptsThenLosesTheReply()).start()
    settings.SOS_EMAIL_BACKEND = "smtp"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    yield server
    server.stop()


def test_every_attempt_of_one_delivery_carries_the_same_message_id(
    make_contact, flaky_smtp, dispatch
):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    now = timezone.now()
    dispatch(now=now)
    delivery = alert.deliveries.get()
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    dispatch(now=now + timedelta(seconds=11))
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("sent", 2)
    first, second = flaky_smtp.messages
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Message-ID"].startswith(f"<sos-{delivery.pk}-0.")
    assert first["Message-ID"].endswith("@example.com>")
    assert delivery.provider_message_id == first["Message-ID"]


def _job(delivery: Any) -> Any:
    from modules.sos.outbox.claims import claim_due

    (job,) = claim_due(now=timezone.now(), limit=1)
    assert job.delivery_id == delivery.pk
    return job


def test_a_reminder_is_a_new_message_and_another_alert_never_reuses_an_id(make_contact):
    from dataclasses import replace

    make_contact("Ann", email="ann@example.com", groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    job = _job(alert.deliveries.get())
    sender = "Portal <portal@example.com>"
    first = message_id(render_message(job), sender)
    retry = message_id(render_message(replace(job, attempt=job.attempt + 1)), sender)
    reminder = message_id(render_message(replace(job, round=1)), sender)
    assert first == retry
    assert reminder != first
    assert reminder.startswith(f"<sos-{job.delivery_id}-1.")
    # The same delivery id in another database (a restore, a second installation) is another
    # alert raised at another time: its id differs, so no mailbox drops it as a duplicate.
    elsewhere = replace(job, raised_at=job.raised_at + timedelta(microseconds=1))
    assert message_id(render_message(elsewhere), sender) != first


def test_ses_sends_carry_the_stable_id_in_references(make_contact, receiver, monkeypatch):
    # SES replaces Message-ID with its own; the stable id goes in References instead.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    body = json.dumps({"MessageId": "ses-1"}).encode()
    reply = Reply(200, {"Content-Type": "application/json"}, body)
    receiver.script("/v2/email/outbound-emails", reply, reply)
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    message = render_message(_job(alert.deliveries.get()))
    channel = SesEmailChannel(
        from_email="Portal <portal@example.com>",
        region="us-east-1",
        timeout=5,
        endpoint_url=receiver.url(""),
    )
    for _ in range(2):
        assert channel.send(Target("email", "ann@example.com"), message).provider_message_id
    first, second = (r.json()["Content"]["Simple"]["Headers"] for r in receiver.requests)
    assert first == second
    headers = {h["Name"]: h["Value"] for h in first}
    assert headers["References"] == message_id(message, "portal@example.com")
    assert headers["X-Portal-Delivery"] == message.idempotency_key
