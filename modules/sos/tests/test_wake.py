"""Waking the dispatcher on commit: a thread in this process, or Zappa's async task."""

from __future__ import annotations

import threading
import time

import pytest
from django.core import mail
from django.db import OperationalError

from modules.sos import services
from modules.sos.models import Delivery
from modules.sos.outbox import tasks, wake


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OperationalError:  # SQLite's in-memory test database: a writer holds the table
            pass
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


@pytest.mark.django_db(transaction=True)
def test_raising_wakes_a_thread_that_delivers_and_then_exits(make_contact, settings):
    settings.SOS_WAKE = "thread"
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    make_contact("Bob", email="bob@example.com", groups=["ops"])
    services.alert_raise(message="Fire", groups=["ops"])
    wait_for(lambda: Delivery.objects.filter(state="sent").count() == 2)
    wait_for(lambda: not any(t.name == "sos-wake" for t in threading.enumerate()))
    assert len(mail.outbox) == 2


def test_nothing_is_woken_before_the_transaction_commits(
    make_contact, settings, django_capture_on_commit_callbacks
):
    settings.SOS_WAKE = "zappa"
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.alert_raise(message="Fire", groups=["ops"])
    assert callbacks == [wake.wake]
    assert mail.outbox == []


def test_zappa_mode_runs_the_async_task_which_off_lambda_runs_inline(
    make_contact, settings, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    settings.SOS_WAKE = "zappa"
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    with django_capture_on_commit_callbacks(execute=True):
        services.alert_raise(message="Fire", groups=["ops"])
    assert Delivery.objects.get().state == "sent"
    assert len(mail.outbox) == 1


def test_the_zappa_task_is_a_module_level_function():
    from zappa.asynchronous import get_func_task_path

    assert get_func_task_path(tasks.dispatch) == "modules.sos.outbox.tasks.dispatch"
    assert callable(tasks.dispatch.sync)


def test_none_mode_leaves_the_rows_to_a_worker(make_contact, django_capture_on_commit_callbacks):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    with django_capture_on_commit_callbacks(execute=True):
        services.alert_raise(message="Fire", groups=["ops"])
    assert Delivery.objects.get().state == "pending"
