""" "Send test" is one synchronous send through the engine's channels, against real peers: its
outcome comes back at once, is recorded on the method and in a closed test alert, and is never
retried or sent again by the dispatcher."""

from __future__ import annotations

from django.test import Client

from modules.sos import services
from modules.sos.models import Alert, AlertEvent, Delivery, SmsOptOut
from modules.sos.tests.aws_env import no_aws_fixture  # noqa: F401 - the no_aws fixture
from modules.sos.tests.peers import Reply
from portal.test import PASSWORD


def login(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_it_sends_one_email_and_records_the_success(smtp_server, make_contact, dispatch):
    method = make_contact("Ann Smith", email="ann@example.com").methods.get()
    result = services.contact_method_test(method=method)
    assert result.ok
    assert result.error == ""
    assert result.duration_ms >= 0
    (message,) = smtp_server.messages
    assert message["Subject"].startswith("[TEST]")
    assert result.provider_message_id == message["Message-ID"]
    method.refresh_from_db()
    assert method.last_success_at is not None
    assert method.last_error == ""
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.alert.is_test) == ("sent", 1, True)
    assert delivery.alert.status == "resolved"  # closed from the start: nothing left to send
    event = AlertEvent.objects.get(kind="attempt")
    assert event.message == "Email to Ann Smith: test sent"
    assert event.data["recipient"] == "Ann Smith"
    assert dispatch().claimed == 0
    assert len(smtp_server.messages) == 1


def test_a_failing_webhook_is_reported_once_and_not_retried(receiver, make_contact, dispatch):
    receiver.script("/hook", Reply(500, body=b"<html><body>Internal Server Error</body></html>"))
    method = make_contact("Pager", webhook=receiver.url()).methods.get()
    result = services.contact_method_test(method=method)
    assert not result.ok
    assert result.error == "HTTP 500 Internal Server Error"  # one line, no HTML
    assert len(receiver.to("/hook")) == 1
    assert Delivery.objects.get().state == "failed"
    assert dispatch().claimed == 0
    assert len(receiver.to("/hook")) == 1
    method.refresh_from_db()
    assert method.last_error == "HTTP 500 Internal Server Error"
    assert method.last_error_at is not None


def test_a_greylisting_mail_server_is_reported_as_the_test_result(smtp_server, make_contact):
    smtp_server.handler.mode = "tempfail"
    method = make_contact("Ann", email="ann@example.com").methods.get()
    result = services.contact_method_test(method=method)
    assert not result.ok
    assert result.error.startswith("SMTP 451 4.7.1")
    assert Delivery.objects.get().state == "failed"
    assert smtp_server.handler.refused["ann@example.com"] == 1


def test_an_unconfigured_channel_fails_without_marking_the_number_broken(no_aws, make_contact):
    method = make_contact("Ann", phone="+15555550100").methods.get()
    result = services.contact_method_test(method=method)
    assert not result.ok
    assert "AWS is not configured" in result.error
    assert [w.code for w in result.warnings] == ["aws_credentials_missing"]
    method.refresh_from_db()
    assert method.last_error == ""  # the setup is at fault, not the number


def test_the_api_answers_with_the_outcome_and_keeps_the_alert_keys(
    operator_api, receiver, make_contact
):
    receiver.script("/hook", Reply(200, headers={"X-Request-Id": "req-42"}))
    method = make_contact("Pager", webhook=receiver.url()).methods.get()
    response = operator_api.post(f"/api/sos/contact-methods/{method.pk}/test/")
    assert response.status_code == 201
    body = response.json()
    assert body["ok"] is True
    assert body["error"] == ""
    assert body["provider_message_id"] == "req-42"
    assert isinstance(body["duration_ms"], int)
    assert body["is_test"] is True  # the keys clients read before stay
    assert body["progress"]["total"] == 1
    assert body["counts"]["sent"] == 1
    assert body["delivery"] == Delivery.objects.get().pk


def test_an_opted_out_number_is_refused_with_a_clear_message(
    operator, operator_api, aws, make_contact
):
    from django.utils import timezone

    method = make_contact("Ann", phone="+15555550100").methods.get()
    SmsOptOut.objects.create(number=method.address, opted_out_at=timezone.now())
    response = operator_api.post(f"/api/sos/contact-methods/{method.pk}/test/")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "recipient_opted_out"
    assert "replied STOP" in error["message"]
    page = login(operator).post(f"/sos/methods/{method.pk}/test/", follow=True).content.decode()
    assert "replied STOP: nothing, not even a test, is sent to it" in page
    assert aws.sent_sms() == []
    assert not Alert.objects.exists()


def test_the_page_script_gets_the_new_status_line_in_place(operator, receiver, make_contact):
    receiver.script("/hook", Reply(404, body=b"no such hook"))
    contact = make_contact("Pager", webhook=receiver.url())
    method = contact.methods.get()
    client = login(operator)
    page = client.get(f"/sos/contacts/{contact.pk}/").content.decode()
    assert f'id="method-status-{method.pk}"' in page
    assert f'data-method-test="{method.pk}"' in page
    response = client.post(f"/sos/methods/{method.pk}/test/", headers={"X-Requested-With": "fetch"})
    assert response.status_code == 200
    part = response.content.decode()
    assert 'data-test-result="failed"' in part
    assert "HTTP 404 Not Found: no such hook" in part
    assert "<html" not in part
    ok = make_contact("Hook 2", webhook=receiver.url("/ok")).methods.get()
    part = client.post(f"/sos/methods/{ok.pk}/test/", headers={"X-Requested-With": "fetch"})
    assert 'data-test-result="ok"' in part.content.decode()


def test_test_alerts_stay_out_of_the_alerts_list(operator, receiver, make_contact):
    method = make_contact("Pager", webhook=receiver.url(), groups=["ops"]).methods.get()
    services.contact_method_test(method=method)
    real = services.alert_raise(message="Real fire", groups=["ops"]).alert
    page = login(operator).get("/sos/").content.decode()
    assert f'href="/sos/alerts/{real.pk}/"' in page
    assert "Test message for Pager" not in page
