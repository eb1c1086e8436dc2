"""A reminder wave to more recipients than the database takes query variables is queued in
full: the runner selects them with a filter, not a list of their ids."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from modules.sos import services
from modules.sos.models import Contact, ContactMethod, Delivery, Group
from modules.sos.outbox.escalation import alerts_escalate_due

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's variable limit")
PEOPLE = 1200
LIMIT = 999  # SQLite's default before 3.32, and Django's own batch size for it


def test_a_reminder_to_more_people_than_query_variables_goes_to_all(db):
    contacts = Contact.objects.bulk_create(Contact(name=f"P{i:04}") for i in range(PEOPLE))
    ContactMethod.objects.bulk_create(
        ContactMethod(contact=c, kind="webhook", address=f"http://127.0.0.1:9/{c.pk}")
        for c in contacts
    )
    Group.objects.create(name="all").members.add(*contacts)
    start = timezone.now()
    alert = services.alert_raise(
        message="Fire", groups=["all"], require_ack=True, reminder_max=1, now=start
    ).alert
    alert.deliveries.update(state="sent", sent_at=start)
    connection.ensure_connection()
    before = connection.connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, LIMIT)
    try:
        assert alerts_escalate_due(now=start + timedelta(minutes=alert.reminder_interval_min)) == 1
    finally:
        connection.connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)
    reminded = Delivery.objects.filter(alert=alert, state="pending", round=1)
    assert reminded.count() == PEOPLE
