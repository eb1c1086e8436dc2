"""Webhooks: signed JSON through the egress policy; status codes mapped to retry or not."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from modules.sos.channels.base import ChannelError, Message, Target
from modules.sos.channels.webhook import WebhookChannel, parse_retry_after
from modules.sos.tests.peers import Reply
from portal.egress import EgressPolicy

pytestmark = pytest.mark.nodb
LOOPBACK = EgressPolicy(["127.0.0.0/8"])


def message() -> Message:
    return Message(
        idempotency_key="sos-7-0",
        subject="",
        text="",
        html="",
        sms="",
        payload={"alert": {"id": 1, "message": "Fire"}, "ack_url": "http://x/ack/t/"},
    )


def send(url: str, policy: EgressPolicy = LOOPBACK, timeout: float = 3.0):
    return WebhookChannel(timeout=timeout, policy=policy).send(
        Target("webhook", url, "s3cret"), message()
    )


def test_posts_signed_json_with_an_idempotency_key(receiver):
    send(receiver.url())
    (request,) = receiver.requests
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == "sos-7-0"
    expected = hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Portal-Signature"] == f"sha256={expected}"
    assert json.loads(request.body)["alert"]["message"] == "Fire"


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
def test_server_errors_and_rate_limits_are_transient(receiver, status):
    receiver.script("/hook", status)
    with pytest.raises(ChannelError) as caught:
        send(receiver.url())
    assert not caught.value.permanent
    assert str(status) in caught.value.message


def test_a_429_carries_its_retry_after(receiver):
    receiver.script("/hook", Reply(429, {"Retry-After": "120"}))
    with pytest.raises(ChannelError) as caught:
        send(receiver.url())
    assert caught.value.retry_after == 120


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_client_errors_are_permanent(receiver, status):
    receiver.script("/hook", status)
    with pytest.raises(ChannelError) as caught:
        send(receiver.url())
    assert caught.value.permanent


def test_a_redirect_is_not_followed(receiver):
    receiver.script("/hook", Reply(302, {"Location": receiver.url("/elsewhere")}))
    with pytest.raises(ChannelError, match="not followed") as caught:
        send(receiver.url())
    assert caught.value.permanent
    assert receiver.to("/elsewhere") == []


def test_a_timeout_is_transient(receiver):
    receiver.script("/hook", Reply(200, delay=1.5))
    with pytest.raises(ChannelError, match="Timed out") as caught:
        send(receiver.url(), timeout=0.5)
    assert not caught.value.permanent


def test_a_refused_connection_is_transient():
    with pytest.raises(ChannelError) as caught:
        send("http://127.0.0.1:9/hook")
    assert not caught.value.permanent


def test_a_forbidden_address_is_permanent_and_never_contacted(receiver):
    with pytest.raises(ChannelError, match="refused") as caught:
        send(receiver.url(), policy=EgressPolicy())
    assert caught.value.permanent
    assert receiver.requests == []


def test_reads_retry_after_as_seconds_or_http_date():
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("30") == 30
    assert parse_retry_after("Thu, 01 Jan 2026 12:01:00 GMT", now=now) == 60
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
