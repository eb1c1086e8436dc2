"""The delivery engine after review: a worker never requeues its own finished sends, one slow
write does not lose the others' outcomes, a send that lands after its lease lapsed is not sent
again, and an AWS call stays within the send time its lease is sized for."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.utils import timezone

from modules.sos import services
from modules.sos.channels import Sent
from modules.sos.channels.base import ChannelError, Message, Target
from modules.sos.channels.email import DjangoEmailChannel, message_id
from modules.sos.channels.sms import SnsSmsChannel
from modules.sos.channels.webhook import parse_retry_after
from modules.sos.lanes import LIFE_SAFETY, delivery_priority
from modules.sos.models import Delivery
from modules.sos.outbox.claims import (
    Outcome,
    PassReport,
    _lease_deadline,
    claim_due,
    record_outcomes,
    requeue_expired_leases,
)
from modules.sos.outbox.governor import governor_take_turn
from modules.sos.outbox.leases import SEND_MARGIN_S, check_lease_settings
from modules.sos.tests.peers import MailHandler, Reply, SmtpServer


def test_it_leaves_a_lease_alone_until_a_margin_after_its_end(make_contact, settings):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    now = timezone.now()
    claim_due(now=now, limit=1)
    just_over = now + timedelta(seconds=settings.SOS_LEASE_S + SEND_MARGIN_S / 2)
    assert requeue_expired_leases(now=just_over) == 0  # another host's clock may run ahead
    assert alert.deliveries.get().state == "sending"
    later = now + timedelta(seconds=settings.SOS_LEASE_S + SEND_MARGIN_S)
    assert requeue_expired_leases(now=later) == 1


def test_it_does_not_requeue_the_rows_its_own_pass_has_in_flight(make_contact, settings):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    make_contact("Bob", email="bob@example.com", groups=["ops"])
    services.alert_raise(message="Fire", groups=["ops"])
    now = timezone.now()
    mine, other = claim_due(now=now, limit=2)
    later = now + timedelta(seconds=settings.SOS_LEASE_S + 10)
    assert requeue_expired_leases(now=later, skip={mine.delivery_id}) == 1
    assert Delivery.objects.get(pk=mine.delivery_id).state == "sending"
    assert Delivery.objects.get(pk=other.delivery_id).state == "pending"


def test_a_send_that_lands_after_its_lease_lapsed_is_recorded_and_not_sent_again(
    make_contact, receiver, dispatch, settings
):
    make_contact("Bot", webhook=receiver.url(), groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    now = timezone.now()
    (slow,) = claim_due(now=now, limit=1)  # its send runs past the lease...
    later = now + timedelta(seconds=settings.SOS_LEASE_S + 5)
    assert requeue_expired_leases(now=later) == 1  # ...the row is handed back...
    report = PassReport()
    landed = Outcome(slow, Sent(provider_message_id="p-1"), None, 10)
    record_outcomes([landed], now=later, report=report)  # ...and then the send succeeds
    assert report.sent == 1
    assert report.stale == 0
    delivery = alert.deliveries.get()
    assert delivery.state == "sent"
    assert delivery.provider_message_id == "p-1"
    dispatch(now=later + timedelta(minutes=5))
    assert receiver.requests == []  # nobody sends it a second time
    assert alert.events.filter(kind="attempt", data__outcome="sent").count() == 1


def test_a_failed_send_that_lands_after_its_lease_lapsed_leaves_the_row_due(make_contact, settings):
    make_contact("Bot", email="bot@example.com", groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    now = timezone.now()
    (slow,) = claim_due(now=now, limit=1)
    later = now + timedelta(seconds=settings.SOS_LEASE_S + 5)
    requeue_expired_leases(now=later)
    report = PassReport()
    late = Outcome(slow, None, ChannelError("HTTP 500", permanent=True), 10)
    record_outcomes([late], now=later, report=report)
    assert report.stale == 1
    assert alert.deliveries.get().state == "pending"


def test_outcomes_written_together_are_retried_until_the_last_lease_ends(make_contact):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    make_contact("Bob", email="bob@example.com", groups=["ops"])
    services.alert_raise(message="Fire", groups=["ops"])
    now = timezone.now()
    first, second = claim_due(now=now, limit=2)
    ending = replace(first, lease_until=now + timedelta(seconds=0.5))
    lasting = replace(second, lease_until=now + timedelta(seconds=20))
    outcomes = [Outcome(job, Sent(provider_message_id="x"), None, 1) for job in (ending, lasting)]
    # One outcome near its lease's end must not cut the retries of the others short.
    assert _lease_deadline(outcomes) - time.monotonic() > 20 - SEND_MARGIN_S - 1


def test_an_aws_call_to_a_slow_endpoint_ends_within_the_send_timeout(receiver, monkeypatch):
    receiver.script("/", Reply(200, {}, b"", delay=4))  # accepts, then does not answer
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    channel = SnsSmsChannel(region="us-east-1", timeout=2, endpoint_url=receiver.url("/"))
    message = Message(
        idempotency_key="sos-1-0",
        subject="Flood",
        text="Flood",
        html="<p>Flood</p>",
        sms="Flood",
        severity="warning",
    )
    started = time.monotonic()
    with pytest.raises(ChannelError) as caught:
        channel.send(Target("sms", "+15555550100"), message)
    assert not caught.value.permanent
    assert time.monotonic() - started < 2 * 0.9  # the lease is sized for 2 s, not per step
    assert len(receiver.requests) == 1


class _DropsAfterData(MailHandler):
    """Accepts the message, then closes the connection before answering the final ".": the
    client cannot tell whether it was taken."""

    drop = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if self.drop:
            server.transport.close()
        return reply


def _mail(key: str) -> Message:
    return Message(
        idempotency_key=key, subject="Fire", text="Fire", html="", sms="", severity="critical"
    )


def test_an_smtp_send_cut_off_after_data_is_not_sent_again_on_a_new_connection():
    handler = _DropsAfterData()
    server = SmtpServer(handler=handler).start()
    try:
        with override_settings(EMAIL_HOST="127.0.0.1", EMAIL_PORT=server.port, EMAIL_TIMEOUT=5):
            sender = DjangoEmailChannel(backend="smtp", from_email="portal@example.com", timeout=5)
            sender.send(Target("email", "a@example.com"), _mail("sos-1-0"))  # kept connection
            handler.drop = True
            with pytest.raises(ChannelError) as caught:
                sender.send(Target("email", "b@example.com"), _mail("sos-2-0"))
            sender.close()
        assert not caught.value.permanent
        assert handler.keys() == ["sos-1-0", "sos-2-0"]  # once, not once per connection
    finally:
        server.stop()


def test_an_smtp_connection_closed_while_idle_is_replaced_before_sending(settings):
    server = SmtpServer().start()
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", server.port, 5
    port = server.port
    sender = DjangoEmailChannel(backend="smtp", from_email="portal@example.com", timeout=5)
    sender.send(Target("email", "a@example.com"), _mail("sos-1-0"))
    server.stop()  # drops the kept connection
    restarted = SmtpServer(port=port).start()
    try:
        sender.send(Target("email", "b@example.com"), _mail("sos-2-0"))
        sender.close()
        assert restarted.handler.keys() == ["sos-2-0"]
    finally:
        restarted.stop()


def test_a_rate_too_low_for_the_lease_is_refused_at_start(settings):
    settings.SOS_LEASE_S = 12  # with a 5 s send timeout: 5 s left to wait for a turn
    settings.SOS_RATE_SMS = 0.2
    settings.SOS_SMS_MAX_SEGMENTS = 3  # 15 s of budget for one long SMS
    with pytest.raises(ImproperlyConfigured, match="SOS_RATE_SMS") as caught:
        check_lease_settings()
    assert "SOS_SMS_MAX_SEGMENTS" in str(caught.value)
    settings.SOS_SMS_MAX_SEGMENTS = 1
    check_lease_settings()


def test_a_send_whose_cost_never_fits_a_lease_fails_instead_of_coming_back(settings):
    settings.SOS_LEASE_S = 12
    settings.SOS_RATE_SMS = 0.2
    long_sms = Message(idempotency_key="sos-1-0", subject="", text="", html="", sms="Пожар! " * 30)
    with pytest.raises(ChannelError, match="SOS_RATE_SMS") as caught:
        governor_take_turn(
            target=Target("sms", "+15555550100"),
            message=long_sms,
            lane=0,
            within_s=5.0,
            now=timezone.now(),
        )
    assert caught.value.permanent
    assert caught.value.configuration


@pytest.mark.django_db(transaction=True)
def test_a_row_claimed_again_while_its_first_send_is_running_does_not_stop_the_pass(receiver):
    from django.db import connection

    from modules.sos.models import Contact, ContactMethod, Group
    from modules.sos.outbox.dispatch import process_due_deliveries

    group = Group.objects.create(name="ops")
    contact = Contact.objects.create(name="Bot")
    ContactMethod.objects.create(contact=contact, kind="webhook", address=receiver.url())
    group.members.add(contact)
    receiver.script("/hook", Reply(200, {}, b"ok", delay=2.0))  # the first send is slow
    seen: list[int] = []

    def another_worker_takes_over(_request: object) -> None:
        # Another host, whose clock runs far ahead, hands the row back mid-send.
        seen.append(1)
        if len(seen) == 1:
            requeue_expired_leases(now=timezone.now() + timedelta(hours=1))
            connection.close()

    receiver.on_request = another_worker_takes_over
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    report = process_due_deliveries(workers=2, max_seconds=15)
    assert len(receiver.requests) == 2  # the second claim sent it again (the lease was lost)
    assert report.sent == 1
    assert report.stale == 1  # the first send's outcome came back to a row it no longer held
    assert alert.deliveries.get().state == "sent"


def test_an_unknown_severity_goes_last_not_in_the_life_safety_lane():
    lowest = delivery_priority("info", resend=False)
    assert delivery_priority("catastrophic", resend=False) == lowest
    assert delivery_priority("catastrophic", resend=False) != LIFE_SAFETY
    assert delivery_priority("critical", resend=False) == LIFE_SAFETY


@pytest.mark.parametrize(
    ("from_email", "domain"),
    [
        ("Portal <alerts@example.com>", "example.com"),
        ("alerts", "portal.invalid"),  # no "@": not the whole string
        ("Alertes <alertes@exemple-été.fr>", "xn--exemple-t-i4ab.fr"),
    ],
)
def test_a_message_id_is_ascii_with_the_senders_domain(from_email, domain):
    mail_id = message_id(_mail("sos-1-0"), from_email)
    assert mail_id.isascii()
    assert mail_id.endswith(f"@{domain}>")


def test_a_retry_after_of_unicode_digits_is_ignored_not_an_internal_error():
    assert parse_retry_after("²") is None
    assert parse_retry_after("٣") is None
    assert parse_retry_after("30") == 30.0


def test_two_outcomes_of_one_row_in_one_write_count_only_the_held_claim(make_contact, settings):
    # On PostgreSQL the one-statement write (pg_bulk.py); elsewhere the per-row path.
    make_contact("Ann", webhook="https://hooks.example.com/ann", groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    now = timezone.now()
    (first,) = claim_due(now=now, limit=1)
    later = now + timedelta(seconds=settings.SOS_LEASE_S + 5)
    requeue_expired_leases(now=later)
    (second,) = claim_due(now=later, limit=1)  # the same row under a new lease
    report = PassReport()
    outcomes = [Outcome(job, Sent(provider_message_id="p"), None, 1) for job in (first, second)]
    record_outcomes(outcomes, now=later, report=report)
    assert report.sent == 1
    assert report.stale == 1
    attempts = alert.events.filter(kind="attempt")
    assert attempts.count() == 2
    assert attempts.filter(data__stale=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_outcome_write_cut_by_a_statement_timeout_is_retried_within_its_lease(settings):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's statement timeout")
    from modules.sos.models import Contact, ContactMethod, Group

    group = Group.objects.create(name="ops")
    contact = Contact.objects.create(name="Ann")
    ContactMethod.objects.create(contact=contact, kind="webhook", address="https://h.example/a")
    group.members.add(contact)
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    (job,) = claim_due(now=timezone.now(), limit=1)
    locked, release = threading.Event(), threading.Event()

    def hold_the_row() -> None:  # another session holds the row for a moment (a long job)
        from django.db import connection as theirs
        from django.db import transaction

        with transaction.atomic():
            Delivery.objects.select_for_update().get(pk=job.delivery_id)
            locked.set()
            release.wait(5)
        theirs.close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    locked.wait(5)
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 300")
    threading.Timer(1.0, release.set).start()
    report = PassReport()
    landed = Outcome(job, Sent(provider_message_id="p"), None, 1)
    record_outcomes([landed], now=timezone.now(), report=report)  # waits out the lock
    holder.join()
    assert report.sent == 1
    assert alert.deliveries.get().state == "sent"


def test_a_slow_sender_to_build_does_not_hold_up_the_other_kinds():
    from modules.sos.channels import ChannelSet

    class Quick:
        kind = "webhook"

        def send(self, target: Target, message: Message) -> Sent:
            return Sent(provider_message_id="q")

        def close(self) -> None:
            pass

    building = threading.Event()

    def slow() -> Quick:
        building.set()
        time.sleep(1.0)  # boto3 and a region check
        return Quick()

    channels = ChannelSet({"sms": slow, "webhook": Quick})  # type: ignore[dict-item]
    thread = threading.Thread(target=channels.get, args=("sms",))
    thread.start()
    building.wait(2)
    started = time.monotonic()
    channels.send(Target("webhook", "http://x"), _mail("sos-1-0"))
    assert time.monotonic() - started < 0.5
    thread.join()
    channels.close()


class _RefusesData(MailHandler):
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "554 5.7.1 Message refused by policy"


def test_an_smtp_server_refusing_data_does_not_mark_the_address_broken(settings):
    server = SmtpServer(handler=_RefusesData()).start()
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", server.port, 5
    try:
        sender = DjangoEmailChannel(backend="smtp", from_email="portal@example.com", timeout=5)
        with pytest.raises(ChannelError) as caught:
            sender.send(Target("email", "ann@example.com"), _mail("sos-1-0"))
        sender.close()
    finally:
        server.stop()
    assert caught.value.permanent
    assert caught.value.configuration
    assert "554" in caught.value.message


def test_the_waiters_limit_follows_the_pools_size_not_the_setting(settings):
    from modules.sos.outbox.governor import waiters_limit

    settings.SOS_WORKERS = 8
    assert waiters_limit(1, 2) == 1  # a pool of 2: one thread may wait on a budget
    assert waiters_limit(1) == 4


def test_tokens_of_a_turn_that_is_not_used_go_back_to_the_budget():
    from django.core.cache.backends.locmem import LocMemCache

    from modules.sos.outbox.governor import Governor

    cache = LocMemCache("review-fixes", {})
    slept: list[float] = []
    clock = [1000.0]  # the start of a one-second slot
    governor = Governor({"sms": 1}, cache=cache, clock=lambda: clock[0], sleep=slept.append)
    assert governor.acquire(kind="sms", sender="s", cost=1, lane=1, deadline=clock[0] + 0.5)
    # The lease no longer covers the send: its token is given back, not spent.
    governor.give_back_last()
    assert governor.acquire(kind="sms", sender="s", cost=1, lane=1, deadline=clock[0] + 0.5)
    assert not governor.acquire(kind="sms", sender="s", cost=1, lane=1, deadline=clock[0] + 0.5)
