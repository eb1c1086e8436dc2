"""A "Send test" answer is true: nothing reported sent when the rate governor kept the message
back (answered 503 with Retry-After within seconds, not after the lease), and an email that
stayed in this process is not a success."""

from __future__ import annotations

import time

import pytest

from modules.sos import services
from modules.sos.errors import ChannelBusy
from modules.sos.models import Delivery
from modules.sos.send_test import TEST_WAIT_S
from modules.sos.tests.test_alert_page import login

SLOT_S = 20.0  # SOS_RATE_WEBHOOK = 0.05: one message per 20 s window of the wall clock


def in_roomy_window() -> None:
    """Start well inside a budget window: a test waits up to TEST_WAIT_S for the next one."""
    left = SLOT_S - time.time() % SLOT_S
    if left < TEST_WAIT_S + 5:
        time.sleep(left + 0.05)


def test_a_test_whose_channel_budget_is_busy_says_so_quickly_and_sends_nothing(
    receiver, make_contact, settings
):
    settings.SOS_RATE_WEBHOOK = 1 / SLOT_S  # the first test takes the budget
    settings.SOS_LEASE_S = 90
    first = make_contact("Pager", webhook=receiver.url("/one")).methods.get()
    second = make_contact("Pager 2", webhook=receiver.url("/two")).methods.get()
    in_roomy_window()
    assert services.contact_method_test(method=first).ok

    started = time.monotonic()
    with pytest.raises(ChannelBusy) as raised:
        services.contact_method_test(method=second)
    assert time.monotonic() - started < 10
    assert raised.value.status == 503
    assert raised.value.details["retry_after_s"] >= 1
    assert len(receiver.to("/two")) == 0
    delivery = Delivery.objects.get(method=second)
    assert delivery.state == "cancelled"
    assert delivery.sent_at is None
    second.refresh_from_db()
    assert second.last_success_at is None


def test_the_api_answers_503_with_retry_after_when_the_budget_is_busy(
    operator_api, receiver, make_contact, settings
):
    settings.SOS_RATE_WEBHOOK = 1 / SLOT_S
    first = make_contact("Pager", webhook=receiver.url("/one")).methods.get()
    second = make_contact("Pager 2", webhook=receiver.url("/two")).methods.get()
    in_roomy_window()
    assert operator_api.post(f"/api/sos/contact-methods/{first.pk}/test/").status_code == 201
    response = operator_api.post(f"/api/sos/contact-methods/{second.pk}/test/")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "channel_busy"
    assert int(response["Retry-After"]) >= 1


def test_an_email_kept_in_this_process_is_not_reported_as_delivered(make_contact, settings):
    settings.SOS_EMAIL_BACKEND = "locmem"
    method = make_contact("Ann", email="ann@example.com").methods.get()
    result = services.contact_method_test(method=method)
    assert not result.ok
    assert "email_not_delivered" in [w.code for w in result.warnings]
    assert result.error
    method.refresh_from_db()
    assert method.last_success_at is None


def test_an_api_test_alert_that_really_sends_is_listed_and_a_send_test_is_not(
    operator, operator_api, receiver, make_contact
):
    method = make_contact("Pager", webhook=receiver.url(), groups=["ops"]).methods.get()
    services.contact_method_test(method=method)
    response = operator_api.post(
        "/api/sos/alerts/",
        {"message": "Drill for the pager", "test": True, "method": method.pk},
        format="json",
    )
    assert response.status_code == 201
    page = login(operator).get("/sos/").content.decode()
    assert f'href="/sos/alerts/{response.json()["id"]}/"' in page
    assert "Test message for Pager" not in page
