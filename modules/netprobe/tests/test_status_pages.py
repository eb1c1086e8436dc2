"""Public status pages: no login, cached by ETag, grouped monitors with a 90-day bar, JSON, Atom."""

from __future__ import annotations

import importlib
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import clear_url_caches
from django.utils import timezone

from modules.netprobe import status
from modules.netprobe.models import Monitor
from modules.netprobe.status_snapshot import page_snapshot

from .support import make_result

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("np_settings")]
ATOM = "{http://www.w3.org/2005/Atom}"


def monitor(name: str, **fields) -> Monitor:
    values = {"kind": "tcp", "target": f"{name}.example:443", "state": "up"}
    return Monitor.objects.create(name=name, **{**values, **fields})


@pytest.fixture
def page():
    api, shop = monitor("API"), monitor("Shop", state="down")
    return status.status_page_save(
        title="Acme status",
        slug="acme",
        description="Everything Acme runs.",
        groups=[{"name": "Backend", "monitors": [api.pk]}, {"name": "Web", "monitors": [shop.pk]}],
    )


def test_it_is_public_without_login_and_groups_the_monitors(page):
    response = Client().get("/status/acme/")

    assert response.status_code == 200
    text = response.content.decode()
    assert "Acme status" in text
    assert "Everything Acme runs." in text
    assert text.index("Backend") < text.index("API") < text.index("Web") < text.index("Shop")
    assert "Partial outage" in text  # Shop is down
    assert "shop.example" not in text  # targets stay private
    assert "Cookie" not in response.get("Vary", "")


def test_unknown_and_private_pages_are_404(page):
    status.status_page_save(page=page, title=page.title, slug="acme", public=False)
    client = Client()

    for url in ("/status/acme/", "/status/acme.json", "/status/acme/feed.atom", "/status/nope/"):
        assert client.get(url).status_code == 404, url
    body = client.get("/status/nope.json").json()
    assert body["error"]["code"] == "not_found"


def test_it_answers_304_to_a_matching_etag_and_may_be_cached_30_s(page):
    client = Client()
    for url in ("/status/acme/", "/status/acme.json", "/status/acme/feed.atom"):
        first = client.get(url)
        assert first["Cache-Control"] == "public, max-age=30"
        etag = first["ETag"]

        again = client.get(url, HTTP_IF_NONE_MATCH=etag)

        assert again.status_code == 304, url
        assert again.content == b""
        assert again["ETag"] == etag


def test_the_etag_changes_when_the_page_does(page):
    client = Client()
    etag = client.get("/status/acme.json")["ETag"]

    status.incident_create(page=page, title="Slow checkout", message="Looking into it")

    changed = client.get("/status/acme.json", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_json_has_groups_states_a_90_day_bar_incidents_and_maintenance(page):
    api = Monitor.objects.get(name="API")
    # The bar counts by UTC day: a fixed noon keeps "today" the day these checks ran. In the
    # future, as the maintenance form wants its windows.
    now = (timezone.now() + timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    for hours in range(0, 48, 6):  # yesterday and today: ok checks, one failure today
        make_result(monitor=api, status="ok", started_at=now - timedelta(hours=hours))
    make_result(monitor=api, status="failed", started_at=now - timedelta(minutes=1))
    status.incident_create(
        page=page, title="API errors", message="Investigating", impact="major", at=now
    )
    window = status.maintenance_save(
        title="Database upgrade",
        starts_at=now + timedelta(days=2),
        ends_at=now + timedelta(days=2, hours=1),
        recurrence="once",
        timezone="UTC",
        monitors=[api],
        pages=[page],
    )

    served = Client().get("/status/acme.json").json()
    body = json.loads(json.dumps(page_snapshot(page, now=now), cls=DjangoJSONEncoder))

    assert served["page"] == body["page"]
    assert served["status"] == body["status"]
    assert body["page"] == {
        "slug": "acme",
        "title": "Acme status",
        "description": "Everything Acme runs.",
        "url": "/status/acme/",
    }
    assert body["status"]["indicator"] == "partial_outage"
    backend, web = body["groups"]
    assert [backend["name"], web["name"]] == ["Backend", "Web"]
    (api_row,) = backend["monitors"]
    assert (api_row["name"], api_row["status"]) == ("API", "up")
    assert web["monitors"][0]["status"] == "down"
    assert len(api_row["days"]) == 90
    today = api_row["days"][-1]
    assert today["date"] == now.astimezone(UTC).date().isoformat()
    assert today["down"] == 1
    assert today["state"] in {"partial", "down"}
    assert api_row["days"][0]["state"] == "nodata"
    assert 0 < api_row["uptime_percent"] < 100
    (incident,) = body["incidents"]["active"]
    assert (incident["title"], incident["status"], incident["impact"]) == (
        "API errors",
        "investigating",
        "major",
    )
    assert incident["updates"][0]["message"] == "Investigating"
    (planned,) = body["maintenance"]
    assert (planned["id"], planned["title"], planned["active"]) == (
        window.pk,
        "Database upgrade",
        False,
    )
    assert datetime.fromisoformat(planned["starts_at"]) == window.starts_at


def _page_of(count: int) -> str:
    """A page of `count` failing monitors under a daily maintenance window, with an incident."""
    many = [monitor(f"m{i}") for i in range(count)]
    for m in many:
        make_result(monitor=m, status="failed", ago=timedelta(hours=1))
    now = timezone.now()
    page = status.status_page_save(
        title=f"Page of {count}",
        groups=[{"name": "All", "monitors": [m.pk for m in many]}],
    )
    status.maintenance_save(
        title="Nightly",
        starts_at=now - timedelta(days=30),
        recurrence="daily",
        duration_minutes=60,
        timezone="Europe/Berlin",
        monitors=many,
        pages=[page],
    )
    status.incident_create(page=page, title="One", message="a")
    return page.slug


def test_serving_a_page_costs_the_same_few_queries_with_many_monitors(
    django_assert_max_num_queries,
):
    small, large = _page_of(1), _page_of(40)
    with CaptureQueriesContext(connection) as queries:
        assert Client().get(f"/status/{small}/").status_code == 200
    assert len(queries) <= 10

    with django_assert_max_num_queries(len(queries)):
        assert Client().get(f"/status/{large}/").status_code == 200
    with django_assert_max_num_queries(0):  # served from the cache for CACHE_S seconds
        assert Client().get(f"/status/{large}.json").status_code == 200


def test_the_atom_feed_lists_incidents_with_their_timeline(page):
    older = status.incident_create(
        page=page,
        title="DNS outage",
        message="Investigating",
        at=timezone.now() - timedelta(days=30),
    )
    status.incident_update(incident=older, status="resolved", message="Fixed the resolver")
    status.incident_create(page=page, title="Slow API", message="We see latency")

    response = Client().get("/status/acme/feed.atom")

    assert response["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)  # noqa: S314 (our own server's output)
    assert root.tag == f"{ATOM}feed"
    entries = root.findall(f"{ATOM}entry")
    titles = [e.findtext(f"{ATOM}title") for e in entries]
    assert titles == ["Slow API (investigating)", "DNS outage (resolved)"]
    summary = entries[1].findtext(f"{ATOM}summary")
    assert "Fixed the resolver" in summary
    assert "Investigating" in summary
    assert entries[1].find(f"{ATOM}link").get("href").endswith(f"/status/acme/#incident-{older.pk}")


def _remount() -> None:
    import portal.urls

    importlib.reload(portal.urls)
    clear_url_caches()


def test_without_netprobe_mounted_there_are_no_status_pages(page):
    with override_settings(PORTAL_MODULES=["sos"]):
        _remount()
        unmounted = Client().get("/status/acme/").status_code
    _remount()
    assert unmounted == 404
    assert Client().get("/status/acme/").status_code == 200
