"""Racing answers: two first answers to one delivery arriving together record one, on
PostgreSQL too (where a joined condition is not re-checked after a row-lock wait)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from modules.sos import services
from modules.sos.models import AlertEvent, Delivery


def race(count: int, work: Callable[[int], object]) -> list[object]:
    start = threading.Barrier(count)
    results: list[object] = []

    def run(index: int) -> None:
        try:
            start.wait()
            results.append(work(index))
        except Exception as error:
            results.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.django_db(transaction=True)
def test_it_records_one_of_two_first_answers_that_arrive_together(make_contact, dispatch):
    for round_ in range(6):
        make_contact(f"Ann {round_}", email=f"ann{round_}@example.com", groups=[f"g{round_}"])
        alert = services.alert_raise(message="Fire", groups=[f"g{round_}"]).alert
        dispatch()
        delivery = alert.deliveries.get()

        def answer(index: int, pk: int = delivery.pk) -> object:
            answers = ["safe", "need_help"]
            return services.delivery_answer(
                delivery=Delivery.objects.get(pk=pk), answer=answers[index]
            )

        results = race(2, answer)
        assert sorted(result.recorded for result in results) == [False, True]
        first = next(result for result in results if result.recorded)
        delivery.refresh_from_db()
        assert delivery.answer == first.answer
        acknowledged = AlertEvent.objects.filter(delivery=delivery, kind="acknowledged")
        assert acknowledged.count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_never_retries_a_delivery_of_an_alert_closed_at_the_same_time(make_contact, dispatch):
    for round_ in range(6):
        make_contact(f"Bob {round_}", email=f"bob{round_}@example.com", groups=[f"r{round_}"])
        alert = services.alert_raise(message="Flood", groups=[f"r{round_}"]).alert
        dispatch()
        Delivery.objects.filter(alert=alert).update(state="failed")
        delivery = alert.deliveries.get()

        def work(index: int, pk: int = delivery.pk, alert: object = alert) -> object:
            if index == 0:
                return services.delivery_retry(delivery=Delivery.objects.get(pk=pk))
            return services.alert_cancel(alert=alert)

        race(2, work)
        delivery.refresh_from_db()
        assert delivery.state != "pending" or delivery.alert.status == "open"
