"""PostgreSQL lock order: an answer locks its alert, the delivery worker locks a delivery row
and then logs an AlertEvent (whose foreign key takes FOR KEY SHARE on the alert). The answer's
alert lock must not conflict with that, or the two deadlock and the ack page answers 500."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from modules.sos import services
from modules.sos.models import AlertEvent, Delivery

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row-lock modes are PostgreSQL's"
)


@pytest.mark.django_db(transaction=True)
def test_it_records_an_answer_while_the_worker_logs_an_outcome_for_the_same_delivery(
    make_contact, dispatch
):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    alert = services.alert_raise(message="Fire", groups=["ops"]).alert
    dispatch()
    delivery = alert.deliveries.get()
    locked = threading.Event()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with transaction.atomic():
                Delivery.objects.select_for_update().get(pk=delivery.pk)
                locked.set()
                time.sleep(0.6)  # the answer is now waiting for this row, holding the alert
                AlertEvent.objects.create(
                    alert_id=alert.pk, delivery_id=delivery.pk, kind="attempt"
                )
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    assert locked.wait(10)
    result = services.delivery_answer(delivery=Delivery.objects.get(pk=delivery.pk), answer="safe")
    thread.join(30)

    assert errors == []
    assert result.recorded
    assert Delivery.objects.get(pk=delivery.pk).answer == "safe"


@pytest.mark.django_db(transaction=True)
def test_a_policy_deleted_while_an_alert_is_raised_with_it_is_refused_not_a_500(make_contact):
    from modules.sos.escalation import PolicyInUse, escalation_policy_delete
    from modules.sos.tests.test_escalation_policy_admin import make_policy

    make_contact("Ann", email="ann@example.com", groups=["ops"])
    policy = make_policy("night")
    raised = threading.Event()
    errors: list[BaseException] = []

    def raise_() -> None:
        try:
            with transaction.atomic():
                services.alert_raise(message="Fire", groups=["ops"], escalation_policy="night")
                raised.set()
                time.sleep(0.6)  # the delete runs now, before this alert commits
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=raise_)
    thread.start()
    assert raised.wait(10)
    with pytest.raises(PolicyInUse):
        escalation_policy_delete(policy=policy)
    thread.join(30)
    assert errors == []
