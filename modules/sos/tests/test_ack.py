"""The public acknowledgement page: signed links, first answer wins, clear errors."""

from __future__ import annotations

import re
import time

import pytest
from django.core import mail
from django.test import Client

from modules.sos import services
from modules.sos.ack_links import ack_token
from modules.sos.models import AlertEvent


@pytest.fixture
def delivery(make_contact, dispatch):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    alert = services.alert_raise(
        message="Gas leak in lab 3",
        groups=["ops"],
        location={"lat": 48.137154, "lon": 11.576124, "accuracy_m": 12},
        require_ack=True,
    ).alert
    dispatch()
    return alert.deliveries.get()


def link_in_email() -> str:
    (message,) = mail.outbox
    return re.search(r"http://portal\.test(/sos/ack/\S+/)", message.body).group(1)


def test_the_emailed_link_opens_the_page_without_login(delivery):
    path = link_in_email()
    response = Client().get(path)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Gas leak in lab 3" in page
    assert "48.137154, 11.576124" in page
    assert "https://www.openstreetmap.org/?mlat=48.137154&amp;mlon=11.576124" in page
    assert 'value="need_help"' in page
    assert response["Referrer-Policy"] == "no-referrer"


def test_the_email_html_body_carries_the_link_too(delivery):
    (message,) = mail.outbox
    html = message.alternatives[0][0]
    assert link_in_email() in html


def test_an_answer_is_recorded_on_the_delivery_and_in_the_event_log(delivery):
    response = Client().post(link_in_email(), {"answer": "safe"})
    assert response.status_code == 200
    assert "was recorded" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.state == "acknowledged"
    assert delivery.answer == "safe"
    assert delivery.acknowledged_at
    event = AlertEvent.objects.get(kind="acknowledged")
    assert event.delivery == delivery
    assert event.data["answer"] == "safe"
    assert event.data["from"] == "sent"


def test_a_second_answer_is_shown_but_does_not_overwrite_the_first(delivery):
    client = Client()
    client.post(link_in_email(), {"answer": "received"})
    response = client.post(link_in_email(), {"answer": "need_help"})
    page = response.content.decode()
    assert "Your first answer" in page
    assert "need_help" in page  # the later answer is listed
    delivery.refresh_from_db()
    assert delivery.answer == "received"
    assert AlertEvent.objects.filter(kind="answered_again").count() == 1


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: "OTk5" + t[t.index(":") :],  # another delivery id, same signature
        lambda t: "garbage",
    ],
)
def test_a_tampered_link_is_400_with_a_clear_page(delivery, mangle):
    response = Client().get(f"/sos/ack/{mangle(ack_token(delivery.pk))}/")
    assert response.status_code == 400
    assert "not valid" in response.content.decode()
    post = Client().post(f"/sos/ack/{mangle(ack_token(delivery.pk))}/", {"answer": "safe"})
    assert post.status_code == 400
    delivery.refresh_from_db()
    assert delivery.answer == ""


def test_an_expired_link_is_400_and_says_so(delivery, settings, monkeypatch):
    token = ack_token(delivery.pk)
    settings.SOS_ACK_MAX_AGE_DAYS = 1
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 2 * 86400)
    response = Client().get(f"/sos/ack/{token}/")
    assert response.status_code == 400
    assert "expired" in response.content.decode()


def test_a_link_stays_the_same_on_every_send_and_expires_from_the_raise(
    delivery, settings, monkeypatch
):
    raised_at = delivery.alert.created_at
    first = ack_token(delivery.pk, raised_at)
    assert link_in_email() == f"/sos/ack/{first}/"
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 5)
    assert ack_token(delivery.pk, raised_at) == first
    assert Client().get(f"/sos/ack/{first}/").status_code == 200
    settings.SOS_ACK_MAX_AGE_DAYS = 1
    monkeypatch.setattr(time, "time", lambda: raised_at.timestamp() + 86400 + 5)
    response = Client().get(f"/sos/ack/{first}/")
    assert response.status_code == 400
    assert "expired" in response.content.decode()


def test_an_unknown_answer_is_refused(delivery):
    response = Client().post(link_in_email(), {"answer": "maybe"})
    assert response.status_code == 400
    delivery.refresh_from_db()
    assert delivery.answer == ""


def test_acknowledging_stops_a_pending_reminder_from_going_out(delivery, dispatch):
    from datetime import timedelta

    from django.utils import timezone

    alert = delivery.alert
    services.delivery_acknowledge(delivery=delivery, answer="received")
    report = dispatch(now=timezone.now() + timedelta(hours=2))
    assert report.claimed == 0
    assert len(mail.outbox) == 1
    alert.refresh_from_db()
    assert alert.next_reminder_at is None


def test_repeated_answers_are_logged_only_up_to_a_cap(delivery):
    path = link_in_email()
    Client().post(path, {"answer": "received"})
    for i in range(services.MAX_REPEAT_ANSWERS + 5):
        response = Client(REMOTE_ADDR=f"192.0.2.{i + 1}").post(path, {"answer": "need_help"})
        assert response.status_code == 200
    repeats = AlertEvent.objects.filter(kind="answered_again").count()
    assert repeats == services.MAX_REPEAT_ANSWERS
    delivery.refresh_from_db()
    assert delivery.answer == "received"


def test_answers_from_one_address_are_throttled(delivery, monkeypatch):
    from modules.sos import views

    monkeypatch.setattr(views, "ACK_RATE_LIMIT", 3)
    path = link_in_email()
    client = Client(REMOTE_ADDR="198.51.100.7")
    statuses = [client.post(path, {"answer": "safe"}).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    refused = client.post(path, {"answer": "safe"})
    assert "Too many answers" in refused.content.decode()
    assert refused["Retry-After"]
    assert Client(REMOTE_ADDR="198.51.100.8").post(path, {"answer": "safe"}).status_code == 200
    assert AlertEvent.objects.filter(kind__in=["acknowledged", "answered_again"]).count() == 4


def test_a_first_answer_goes_through_even_from_a_throttled_address(
    delivery, make_contact, dispatch, monkeypatch
):
    # Everyone in one building may answer through one NAT address: first answers always count.
    from modules.sos import views

    monkeypatch.setattr(views, "ACK_RATE_LIMIT", 1)
    client = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(3):
        client.post(link_in_email(), {"answer": "safe"})
    make_contact("Bob", email="bob@example.com", groups=["late"])
    alert = services.alert_raise(message="Fire", groups=["late"]).alert
    dispatch()
    other = alert.deliveries.get()
    response = client.post(f"/sos/ack/{ack_token(other.pk)}/", {"answer": "need_help"})
    assert response.status_code == 200
    other.refresh_from_db()
    assert other.answer == "need_help"


def test_behind_a_proxy_answers_are_throttled_per_client_not_per_proxy(
    delivery, monkeypatch, settings
):
    from modules.sos import views

    settings.NUM_PROXIES = 1
    monkeypatch.setattr(views, "ACK_RATE_LIMIT", 2)
    path = link_in_email()
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for _ in range(3):
        Client(HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy).post(path, {"answer": "safe"})
    other = Client(HTTP_X_FORWARDED_FOR="198.51.100.8", **proxy).post(path, {"answer": "safe"})
    assert other.status_code == 200
