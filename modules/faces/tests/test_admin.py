"""The admin shows the comparison log read-only and lets references be found and deleted."""

from __future__ import annotations

import pytest

from modules.faces.models import Comparison, Reference
from portal.test import make_user


@pytest.fixture
def admin_client(client, db):
    client.force_login(make_user("ada", role=None, is_staff=True, is_superuser=True))
    return client


def test_the_comparison_log_is_searchable_by_user_and_read_only(admin_client, operator):
    Comparison.objects.create(user=operator, verdict="match", distance=0.4, threshold=0.6)
    Comparison.objects.create(verdict="error", error_code="no_face", threshold=0.6)

    found = admin_client.get("/admin/faces/comparison/?q=olivia").content.decode()
    errors = admin_client.get("/admin/faces/comparison/?verdict__exact=error").content.decode()

    assert "1 result" in found
    assert "no_face" in errors
    assert admin_client.get("/admin/faces/comparison/add/").status_code == 403


def test_references_are_searchable_by_name_and_deletable(admin_client):
    keep = Reference.objects.create(name="Joe Biden", descriptor=bytes(1024))
    gone = Reference.objects.create(name="Barack Obama", descriptor=bytes(1024))

    found = admin_client.get("/admin/faces/reference/?q=obama").content.decode()
    response = admin_client.post(
        "/admin/faces/reference/",
        {"action": "delete_selected", "_selected_action": [gone.pk], "post": "yes"},
    )

    assert "Barack Obama" in found
    assert "Joe Biden" not in found
    assert response.status_code == 302
    assert list(Reference.objects.all()) == [keep]
