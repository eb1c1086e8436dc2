"""Admin: every model is listed, searchable and filterable; the event log is read-only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from modules.sos import services
from modules.sos.models import Alert, AlertEvent, ContactMethod, Delivery
from portal.test import PASSWORD, make_user


@pytest.fixture
def admin_client(db) -> Client:
    make_user("root", role=None, is_staff=True, is_superuser=True)
    client = Client()
    client.login(username="root", password=PASSWORD)
    return client


@pytest.fixture
def alert(make_contact):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    return services.alert_raise(message="Fire", groups=["ops"]).alert


@pytest.mark.parametrize(
    "model", ["contact", "contactmethod", "group", "alert", "delivery", "alertevent"]
)
def test_every_model_has_a_changelist_with_search(admin_client, alert, model):
    response = admin_client.get(f"/admin/sos/{model}/", {"q": "a"})
    assert response.status_code == 200


def test_the_event_log_cannot_be_added_changed_or_deleted(admin_client, alert):
    event = AlertEvent.objects.get()
    assert admin_client.get("/admin/sos/alertevent/add/").status_code == 403
    page = admin_client.get(f"/admin/sos/alertevent/{event.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert admin_client.post(f"/admin/sos/alertevent/{event.pk}/delete/").status_code == 403


def test_admin_actions_call_the_services(admin_client, alert):
    response = admin_client.post(
        "/admin/sos/alert/",
        {"action": "cancel_alerts", "_selected_action": [alert.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert Alert.objects.get().status == "cancelled"
    method = ContactMethod.objects.get()
    admin_client.post(
        "/admin/sos/contactmethod/",
        {"action": "send_test", "_selected_action": [method.pk]},
    )
    assert Alert.objects.filter(is_test=True).count() == 1
    assert Delivery.objects.filter(alert__is_test=True).count() == 1


def test_the_alert_list_cuts_long_messages_and_keeps_the_time_on_one_line(admin_client, alert):
    Alert.objects.filter(pk=alert.pk).update(message="Evacuate building two now. " * 20)
    page = admin_client.get("/admin/sos/alert/").content.decode()
    (cell,) = re.findall(
        r'<td class="field-short_message"><span title="[^"]*">([^<]*)</span>', page
    )
    assert len(cell) <= 60
    assert cell.endswith("…")
    assert "sos/admin.css" in page
    css = Path(finders.find("sos/admin.css")).read_text()
    assert "td.field-short_message" in css
    assert "th.column-created_at" in css
