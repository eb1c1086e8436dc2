"""Edits in the Django admin show on the public status page, past its cache."""

from __future__ import annotations

import pytest
from django.test import Client

from modules.netprobe import status
from portal.test import PASSWORD, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("np_settings")]


@pytest.fixture
def admin_client() -> Client:
    make_user("root", role=None, is_staff=True, is_superuser=True)
    client = Client()
    assert client.login(username="root", password=PASSWORD)
    return client


def test_a_page_renamed_in_the_admin_shows_its_new_title_at_once(admin_client):
    page = status.status_page_save(title="Old name", slug="acme", groups=[])
    assert "Old name" in Client().get("/status/acme/").content.decode()  # now cached

    saved = admin_client.post(
        f"/admin/netprobe/statuspage/{page.pk}/change/",
        {
            "title": "New name",
            "slug": "acme",
            "public": "on",
            "description": "",
            "groups-TOTAL_FORMS": "0",
            "groups-INITIAL_FORMS": "0",
            "groups-MIN_NUM_FORMS": "0",
            "groups-MAX_NUM_FORMS": "1000",
        },
    )

    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert "New name" in Client().get("/status/acme/").content.decode()


def test_an_incident_deleted_in_the_admin_leaves_the_page_at_once(admin_client):
    page = status.status_page_save(title="Acme", slug="acme", groups=[])
    incident = status.incident_create(page=page, title="Disk full", message="Looking")
    assert "Disk full" in Client().get("/status/acme/").content.decode()

    gone = admin_client.post(f"/admin/netprobe/incident/{incident.pk}/delete/", {"post": "yes"})

    assert gone.status_code == 302
    assert "Disk full" not in Client().get("/status/acme/").content.decode()
