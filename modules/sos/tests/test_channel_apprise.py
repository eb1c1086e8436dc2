"""Apprise URLs (chat and push services), here json:// and ntfy:// URLs to a loopback receiver,
and how the egress policy judges the server an Apprise URL names."""

from __future__ import annotations

import pytest

from modules.sos.channels.apprise import (
    AppriseChannel,
    AppriseTargetUnknown,
    InvalidAppriseUrl,
    check_apprise_target,
)
from modules.sos.channels.base import ChannelError, Message, Target
from portal.egress import EgressForbidden, EgressPolicy

pytestmark = pytest.mark.nodb


def message() -> Message:
    return Message("sos-1-0", "[CRITICAL] Fire", "Fire in building 2", "", "", severity="critical")


def test_notifies_through_an_apprise_url(receiver):
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


def test_a_private_ntfy_server_on_a_refused_host_is_refused(receiver):
    # Apprise reads ntfy://localhost/alerts as a private server at localhost, not as a topic.
    channel = AppriseChannel(timeout=3, policy=EgressPolicy())
    with pytest.raises(ChannelError, match="refused") as caught:
        channel.send(Target("apprise", f"ntfy://localhost:{receiver.port}/alerts"), message())
    assert caught.value.permanent
    assert receiver.requests == []


def test_a_private_ntfy_server_on_an_allowed_host_is_notified(receiver):
    channel = AppriseChannel(timeout=3, policy=EgressPolicy(["127.0.0.0/8", "::1/128"]))
    channel.send(Target("apprise", f"ntfy://localhost:{receiver.port}/alerts"), message())
    (request,) = receiver.requests
    assert b"Fire in building 2" in request.body


@pytest.mark.parametrize(
    "url",
    [
        "hassio://127.0.0.1:{port}/accesstoken",
        "kodi://127.0.0.1:{port}",
        "gotify://127.0.0.1:{port}/token",
        "mmost://127.0.0.1:{port}/token",
        "apprise://127.0.0.1:{port}/token",
    ],
)
def test_services_that_name_their_server_are_judged_by_the_egress_policy(receiver, url):
    channel = AppriseChannel(timeout=3, policy=EgressPolicy())
    with pytest.raises(ChannelError, match="refused") as caught:
        channel.send(Target("apprise", url.format(port=receiver.port)), message())
    assert caught.value.permanent
    assert receiver.requests == []


def test_rsyslog_names_its_server_too():
    target = check_apprise_target("rsyslog://127.0.0.1/local0", EgressPolicy(["127.0.0.0/8"]))
    assert (target.host, target.cloud) == ("127.0.0.1", False)
    with pytest.raises(EgressForbidden):
        check_apprise_target("rsyslog://127.0.0.1/local0", EgressPolicy())


@pytest.mark.parametrize(
    "url",
    [
        "ntfy://alerts",
        "ntfys://alerts",
        "https://ntfy.sh/alerts",
        "tgram://123456789:AAHsecretTOKEN/12345",
        "pover://userkey@apptoken",
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general",
        "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js",
    ],
)
def test_cloud_services_at_fixed_addresses_need_no_lookup(url):
    target = check_apprise_target(url, EgressPolicy())  # no DNS here: nothing to resolve
    assert target.cloud
    assert target.host == ""


@pytest.mark.parametrize(
    "url",
    [
        "mailto://user:secret@example.com",
        "mailgun://user@example.com/apikey",
        "matrix://user:pass@127.0.0.1/room",
        "syslog://",
    ],
)
def test_services_whose_server_portal_cannot_tell_are_refused(url):
    with pytest.raises(AppriseTargetUnknown):
        check_apprise_target(url, EgressPolicy(["0.0.0.0/0", "::/0"]))


def test_one_address_holds_one_apprise_url(receiver):
    # Apprise would read two URLs here and notify both; only the first would have been judged.
    url = f"json://127.0.0.2:{receiver.port}/a json://127.0.0.1:{receiver.port}/b"
    with pytest.raises(InvalidAppriseUrl):
        check_apprise_target(url, EgressPolicy(["127.0.0.2/32"]))
    channel = AppriseChannel(timeout=3, policy=EgressPolicy(["127.0.0.2/32"]))
    with pytest.raises(ChannelError) as caught:
        channel.send(Target("apprise", url), message())
    assert caught.value.permanent
    assert receiver.to("/b") == []
