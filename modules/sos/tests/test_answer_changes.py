"""A change of answer is always on record, and an answer must fit the alert."""

from __future__ import annotations

import pytest
from django.test import Client

from modules.sos import services
from modules.sos.ack_links import ack_token
from modules.sos.errors import InvalidAlert
from modules.sos.models import AlertEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivery(make_contact):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    return services.alert_raise(message="Gas leak", groups=["ops"]).alert.deliveries.get()


def post(delivery, i: int, **form: str):
    path = f"/sos/ack/{ack_token(delivery.pk)}/"
    return Client(REMOTE_ADDR=f"192.0.2.{i + 1}").post(path, form)


def test_a_change_of_answer_after_the_repeat_cap_is_still_logged(delivery):
    post(delivery, 0, answer="need_help", note="trapped")
    for i in range(services.MAX_REPEAT_ANSWERS + 2):
        post(delivery, i + 1, answer="need_help", note="trapped")
    before = AlertEvent.objects.filter(kind="answered_again").count()
    assert before == services.MAX_REPEAT_ANSWERS
    assert post(delivery, 50, answer="safe").status_code == 200
    flipped = AlertEvent.objects.filter(kind="answered_again").order_by("-id").first()
    assert AlertEvent.objects.filter(kind="answered_again").count() == before + 1
    assert "Ann: I am safe" in flipped.message
    post(delivery, 51, answer="safe", note="now outside")
    assert AlertEvent.objects.filter(kind="answered_again").count() == before + 2


def test_an_answer_that_does_not_fit_the_alert_is_refused(delivery):
    response = post(delivery, 0, answer="on_it")
    assert response.status_code == 400
    delivery.refresh_from_db()
    assert (delivery.answer, delivery.last_answer) == ("", "")
    with pytest.raises(InvalidAlert):
        services.delivery_answer(delivery=delivery, answer="cant_help")


def test_an_incident_alert_refuses_i_am_safe(make_contact):
    make_contact("Bob", email="bob@example.com", groups=["oncall"])
    alert = services.alert_raise(message="db1 down", groups=["oncall"], source="netprobe").alert
    with pytest.raises(InvalidAlert):
        services.delivery_answer(delivery=alert.deliveries.get(), answer="safe")
    assert services.delivery_answer(delivery=alert.deliveries.get(), answer="on_it").recorded
