"""Apprise URLs (chat and push services), here a json:// URL to a loopback receiver."""

from __future__ import annotations

import pytest

from modules.sos.channels.apprise import AppriseChannel
from modules.sos.channels.base import ChannelError, Message, Target
from portal.egress import EgressPolicy

pytestmark = pytest.mark.nodb


def message() -> Message:
    return Message("sos-1-0", "[CRITICAL] Fire", "Fire in building 2", "", "", severity="critical")


def test_it_notifies_through_an_apprise_url(receiver):
    channel = AppriseChannel(timeout=3, policy=EgressPolicy(["127.0.0.0/8"]))
    channel.send(Target("apprise", f"json://127.0.0.1:{receiver.port}/chat"), message())
    (request,) = receiver.to("/chat")
    body = request.json()
    assert body["title"] == "[CRITICAL] Fire"
    assert body["message"] == "Fire in building 2"
    assert body["type"] == "failure"


def test_a_failing_service_is_transient(receiver):
    receiver.script("/chat", 500)
    channel = AppriseChannel(timeout=3, policy=EgressPolicy(["127.0.0.0/8"]))
    with pytest.raises(ChannelError) as caught:
        channel.send(Target("apprise", f"json://127.0.0.1:{receiver.port}/chat"), message())
    assert not caught.value.permanent


def test_an_invalid_apprise_url_is_permanent():
    with pytest.raises(ChannelError, match="valid Apprise") as caught:
        AppriseChannel(timeout=3).send(Target("apprise", "nonsense"), message())
    assert caught.value.permanent


def test_a_host_the_egress_policy_refuses_is_permanent(receiver):
    channel = AppriseChannel(timeout=3, policy=EgressPolicy())
    with pytest.raises(ChannelError, match="refused") as caught:
        channel.send(Target("apprise", f"json://127.0.0.1:{receiver.port}/chat"), message())
    assert caught.value.permanent
    assert receiver.requests == []
