"""Email over SMTP to aiosmtpd: accepted, 451 transient, 550 permanent, server down."""

from __future__ import annotations

import pytest

from modules.sos.channels.base import ChannelError, Message, Target
from modules.sos.channels.email import DjangoEmailChannel
from modules.sos.tests.peers import SmtpServer

pytestmark = pytest.mark.nodb


def message(key: str = "sos-1-0") -> Message:
    return Message(
        idempotency_key=key,
        subject="[CRITICAL] Fire",
        text="Fire in building 2",
        html="<p>Fire in building 2</p>",
        sms="",
        priority=True,
    )


def channel() -> DjangoEmailChannel:
    return DjangoEmailChannel(backend="smtp", from_email="Portal <portal@example.com>")


def test_sends_text_and_html_with_a_message_id(smtp_server):
    sender = channel()
    sent = sender.send(Target("email", "ann@example.com"), message())
    sender.close()
    (received,) = smtp_server.messages
    assert received["To"] == "ann@example.com"
    assert received["Subject"] == "[CRITICAL] Fire"
    assert received["Message-ID"] == sent.provider_message_id
    assert received["X-Portal-Delivery"] == "sos-1-0"
    assert received["X-Priority"] == "1"
    kinds = [part.get_content_type() for part in received.walk()]
    assert "text/plain" in kinds
    assert "text/html" in kinds


def test_reuses_one_connection_per_thread(smtp_server):
    sender = channel()
    for i in range(3):
        sender.send(Target("email", f"u{i}@example.com"), message(f"sos-{i}-0"))
    assert len(sender._open) == 1
    sender.close()
    assert len(smtp_server.messages) == 3


def test_a_451_is_transient_and_the_retry_is_accepted(smtp_server):
    smtp_server.handler.mode = "tempfail_once"
    sender = channel()
    with pytest.raises(ChannelError) as caught:
        sender.send(Target("email", "ann@example.com"), message())
    assert not caught.value.permanent
    assert "451" in caught.value.message
    sender.send(Target("email", "ann@example.com"), message())
    sender.close()
    assert len(smtp_server.messages) == 1


def test_a_550_is_permanent(smtp_server):
    smtp_server.handler.mode = "reject"
    sender = channel()
    with pytest.raises(ChannelError) as caught:
        sender.send(Target("email", "nobody@example.com"), message())
    sender.close()
    assert caught.value.permanent
    assert "550" in caught.value.message
    assert smtp_server.messages == []


def test_a_server_that_is_down_is_transient(settings):
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    with pytest.raises(ChannelError) as caught:
        channel().send(Target("email", "ann@example.com"), message())
    assert not caught.value.permanent


def test_reconnects_once_when_a_kept_connection_was_closed(smtp_server, settings):
    sender = channel()
    sender.send(Target("email", "a@example.com"), message("sos-1-0"))
    port = smtp_server.port
    smtp_server.stop()  # drops the kept connection
    restarted = SmtpServer(port=port).start()
    try:
        sender.send(Target("email", "b@example.com"), message("sos-2-0"))
        sender.close()
        assert restarted.handler.keys() == ["sos-2-0"]
    finally:
        restarted.stop()
