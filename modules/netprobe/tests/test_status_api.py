"""Status pages API and UI: pages, incidents, maintenance; operators write, viewers read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from modules.netprobe.models import Incident, MaintenanceWindow, Monitor, StatusPage
from portal.test import PASSWORD, api_client, make_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("np_settings")]
PAGES = "/api/netprobe/status-pages/"


@pytest.fixture
def monitors() -> list[Monitor]:
    return [
        Monitor.objects.create(name=name, kind="tcp", target=f"{name}.example:443")
        for name in ("api", "web", "db")
    ]


def test_an_operator_creates_reads_changes_and_deletes_a_page(monitors):
    client = api_client(make_user("olivia", role="operator"))
    api, web, db = monitors

    created = client.post(
        PAGES,
        {
            "title": "Acme status",
            "description": "All of Acme",
            "groups": [
                {"name": "Backend", "monitors": [api.pk, db.pk]},
                {"name": "Frontend", "monitors": [web.pk]},
            ],
        },
        format="json",
    )

    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["slug"], body["public"], body["public_url"]) == (
        "acme-status",
        True,
        "/status/acme-status/",
    )
    assert body["groups"] == [
        {"name": "Backend", "monitors": [api.pk, db.pk]},
        {"name": "Frontend", "monitors": [web.pk]},
    ]
    url = f"{PAGES}{body['id']}/"
    changed = client.patch(url, {"title": "Acme", "public": False}, format="json")
    assert changed.status_code == 200
    assert (changed.json()["title"], changed.json()["public"]) == ("Acme", False)
    assert changed.json()["groups"] == body["groups"]  # untouched when not sent
    assert client.get(PAGES).json()["results"][0]["title"] == "Acme"
    assert client.delete(url).status_code == 204
    assert not StatusPage.objects.exists()


def test_bad_pages_are_400_validation_errors_naming_the_field(monitors):
    client = api_client(make_user("olivia", role="operator"))
    client.post(PAGES, {"title": "Acme", "slug": "acme"}, format="json")

    taken = client.post(PAGES, {"title": "Other", "slug": "acme"}, format="json")
    unknown = client.post(
        PAGES, {"title": "X", "groups": [{"name": "G", "monitors": [999]}]}, format="json"
    )
    bad_slug = client.post(PAGES, {"title": "X", "slug": "no spaces/here"}, format="json")

    for response, field in ((taken, "slug"), (unknown, "groups"), (bad_slug, "slug")):
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert field in error["details"]["fields"]


def test_viewers_read_but_cannot_write_and_strangers_get_nothing(monitors):
    make_user("olivia", role="operator")
    viewer = api_client(make_user("victor", role="viewer"))
    page = StatusPage.objects.create(title="Acme", slug="acme")

    assert viewer.get(PAGES).status_code == 200
    assert viewer.get(f"{PAGES}{page.pk}/incidents/").status_code == 200
    for method, url, data in (
        ("post", PAGES, {"title": "Mine"}),
        ("patch", f"{PAGES}{page.pk}/", {"title": "Mine"}),
        ("post", f"{PAGES}{page.pk}/incidents/", {"title": "x", "message": "y"}),
        ("post", "/api/netprobe/maintenance/", {"title": "x"}),
    ):
        response = getattr(viewer, method)(url, data, format="json")
        assert response.status_code == 403, url
        assert response.json()["error"]["code"] == "permission_denied"
    assert api_client().get(PAGES).status_code == 401
    assert api_client(make_user("nobody", role=None)).get(PAGES).status_code == 403


def test_incidents_move_through_their_states_with_a_timeline():
    client = api_client(make_user("olivia", role="operator"))
    page = StatusPage.objects.create(title="Acme", slug="acme")

    opened = client.post(
        f"{PAGES}{page.pk}/incidents/",
        {"title": "Checkout errors", "impact": "major", "message": "We are looking into it"},
        format="json",
    )
    assert opened.status_code == 201, opened.content
    incident = opened.json()
    assert (incident["status"], incident["resolved_at"]) == ("investigating", None)
    updates = f"/api/netprobe/incidents/{incident['id']}/updates/"
    for state in ("identified", "monitoring", "resolved"):
        posted = client.post(updates, {"status": state, "message": f"now {state}"}, format="json")
        assert posted.status_code == 201
        assert posted.json()["by"] == "olivia"
    bad = client.post(updates, {"status": "fixed", "message": "?"}, format="json")

    assert bad.status_code == 400
    assert "status" in bad.json()["error"]["details"]["fields"]
    body = client.get(f"/api/netprobe/incidents/{incident['id']}/").json()
    assert body["status"] == "resolved"
    assert body["resolved_at"] is not None
    assert [u["status"] for u in body["updates"]] == [
        "resolved",
        "monitoring",
        "identified",
        "investigating",
    ]
    renamed = client.patch(f"/api/netprobe/incidents/{incident['id']}/", {"title": "Checkout"})
    assert renamed.json()["title"] == "Checkout"
    assert renamed.json()["status"] == "resolved"  # an edit does not move the state


def test_maintenance_windows_are_created_with_their_next_occurrence(monitors):
    client = api_client(make_user("olivia", role="operator"))
    page = StatusPage.objects.create(title="Acme", slug="acme")
    start = (timezone.now() + timedelta(days=1)).replace(microsecond=0)

    created = client.post(
        "/api/netprobe/maintenance/",
        {
            "title": "Weekly patching",
            "monitors": [monitors[0].pk],
            "pages": [page.pk],
            "starts_at": start.isoformat(),
            "recurrence": "weekly",
            "weekdays": [0, 3],
            "duration_minutes": 30,
            "timezone": "Europe/Paris",
        },
        format="json",
    )
    bad = client.post(
        "/api/netprobe/maintenance/",
        {
            "title": "x",
            "starts_at": start.isoformat(),
            "recurrence": "once",
            "timezone": "Nowhere/X",
        },
        format="json",
    )

    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["weekdays"], body["monitors"], body["pages"]) == (
        [0, 3],
        [monitors[0].pk],
        [page.pk],
    )
    assert body["next_occurrence"]["starts_at"] >= start.isoformat()[:10]
    assert bad.status_code == 400
    assert {"timezone", "ends_at"} <= set(bad.json()["error"]["details"]["fields"])
    url = f"/api/netprobe/maintenance/{body['id']}/"
    assert client.patch(url, {"title": "Patching"}, format="json").json()["title"] == "Patching"
    assert client.delete(url).status_code == 204
    assert not MaintenanceWindow.objects.exists()


def test_an_operator_manages_a_page_an_incident_and_maintenance_in_the_ui(monitors):
    make_user("olivia", role="operator")
    client = Client()
    assert client.login(username="olivia", password=PASSWORD)
    api = monitors[0]

    saved = client.post(
        "/netprobe/status-pages/new/",
        {
            "title": "Acme",
            "slug": "acme",
            "public": "on",
            f"m{api.pk}-include": "on",
            f"m{api.pk}-group": "Backend",
            f"m{api.pk}-position": "1",
        },
    )
    page = StatusPage.objects.get(slug="acme")
    assert saved.status_code == 302
    assert saved["Location"] == f"/netprobe/status-pages/{page.pk}/"
    assert [g.name for g in page.groups.all()] == ["Backend"]

    client.post(
        f"/netprobe/status-pages/{page.pk}/incidents/",
        {"title": "Slow", "impact": "minor", "status": "investigating", "message": "Looking"},
    )
    incident = Incident.objects.get(page=page)
    client.post(
        f"/netprobe/incidents/{incident.pk}/updates/", {"status": "resolved", "message": "Done"}
    )
    incident.refresh_from_db()
    assert incident.status == "resolved"

    scheduled = client.post(
        "/netprobe/maintenance/new/",
        {
            "title": "Upgrade",
            "monitors": [api.pk],
            "pages": [page.pk],
            "timezone": "Europe/Berlin",
            "starts_at": "2030-07-01T02:00",
            "ends_at": "2030-07-01T03:00",
            "recurrence": "once",
        },
    )
    assert scheduled.status_code == 302
    window = MaintenanceWindow.objects.get()
    assert window.starts_at.isoformat() == "2030-07-01T00:00:00+00:00"  # 02:00 CEST
    edit = client.get(f"/netprobe/maintenance/{window.pk}/edit/").content.decode()
    assert 'value="2030-07-01T02:00"' in edit  # shown in its own time zone again
    listing = client.get("/netprobe/status-pages/").content.decode()
    assert "Upgrade" in listing
    assert "/status/acme/" in listing
    refused = client.post("/netprobe/status-pages/new/", {"title": "Dup", "slug": "acme"})
    assert refused.status_code == 400
    assert "another status page has this address" in refused.content.decode()


def test_a_viewer_sees_the_pages_but_no_forms(monitors):
    make_user("victor", role="viewer")
    page = StatusPage.objects.create(title="Acme", slug="acme")
    client = Client()
    assert client.login(username="victor", password=PASSWORD)

    assert client.get("/netprobe/status-pages/").status_code == 200
    detail = client.get(f"/netprobe/status-pages/{page.pk}/").content.decode()
    assert "incident-form" not in detail
    assert client.get("/netprobe/status-pages/new/").status_code == 403
    assert client.post(f"/netprobe/status-pages/{page.pk}/incidents/", {}).status_code == 403


def test_the_admin_lists_and_opens_status_pages_incidents_and_maintenance(monitors):
    make_user("root", role=None, is_staff=True, is_superuser=True)
    page = StatusPage.objects.create(title="Acme", slug="acme")
    client = Client()
    assert client.login(username="root", password=PASSWORD)

    for url in (
        "/admin/netprobe/statuspage/",
        f"/admin/netprobe/statuspage/{page.pk}/change/",
        "/admin/netprobe/incident/",
        "/admin/netprobe/maintenancewindow/add/",
    ):
        assert client.get(url).status_code == 200, url
    refused = client.post(
        "/admin/netprobe/maintenancewindow/add/",
        {
            "title": "x",
            "starts_at_0": "2030-01-01",
            "starts_at_1": "00:00",
            "recurrence": "weekly",
            "weekdays": "[]",
            "duration_minutes": "30",
            "timezone": "UTC",
        },
    )
    assert refused.status_code == 200  # the form again, with the error
    assert "choose days of the week" in refused.content.decode()
