"""Locations where people edit and read them: the probe form keeps the ticked boxes after an
error, the admin edits a monitor's locations and quorum through the services, and the history
API says where each result ran."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from modules.netprobe.models import Monitor
from portal.test import api_client

from .locations_support import multi_monitor, play, vantages

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("np_settings")]


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


def ticked(body: str) -> set[str]:
    return set(re.findall(r'name="locations" value="([^"]+)" checked', body))


def test_the_probe_form_shown_again_after_a_locations_error_keeps_the_ticked_boxes(
    operator_client, http_server
):
    vantages("eu-west-1", "ap-south-1")

    answer = operator_client.post(
        "/netprobe/run/",
        {"kind": "http", "target": f"{http_server.url}/", "locations": ["eu-west-1", "mars-1"]},
    )

    assert answer.status_code == 400
    body = answer.content.decode()
    assert "mars-1" in re.search(r'id="locations-error">(.*?)<', body).group(1)
    assert ticked(body) == {"eu-west-1"}  # the hub was not ticked, the unknown one has no box
    assert ticked(operator_client.get("/netprobe/").content.decode()) == {"local"}


def test_the_probe_form_shown_again_after_an_option_error_keeps_the_ticked_boxes(
    operator_client, http_server
):
    vantages("eu-west-1")

    answer = operator_client.post(
        "/netprobe/run/",
        {
            "kind": "http",
            "target": f"{http_server.url}/",
            "http-timeout": "-1",
            "locations": ["local", "eu-west-1"],
        },
    )

    assert answer.status_code == 400
    assert ticked(answer.content.decode()) == {"local", "eu-west-1"}


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def admin_data(**extra):
    data = {
        "name": "Shop",
        "kind": "tcp",
        "target": "127.0.0.1:443",
        "interval_s": "60",
        "failure_threshold": "3",
        "recovery_threshold": "1",
        "enabled": "on",
        "transitions-TOTAL_FORMS": "0",
        "transitions-INITIAL_FORMS": "0",
    }
    return {**data, **extra}


def test_the_admin_edits_a_monitors_locations_and_quorum(admin_client):
    vantages("eu-west-1", "ap-south-1")

    created = admin_client.post(
        "/admin/netprobe/monitor/add/",
        admin_data(locations="local, eu-west-1, ap-south-1", quorum="2"),
    )
    m = Monitor.objects.get()
    page = admin_client.get(f"/admin/netprobe/monitor/{m.pk}/change/").content.decode()
    changed = admin_client.post(
        f"/admin/netprobe/monitor/{m.pk}/change/", admin_data(locations="all", quorum="")
    )

    assert created.status_code == 302
    assert (m.locations, m.quorum) == (["local", "eu-west-1", "ap-south-1"], 2)
    assert 'value="local, eu-west-1, ap-south-1"' in page
    assert changed.status_code == 302
    m.refresh_from_db()
    assert (m.locations, m.quorum) == (["all"], None)


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"locations": "local, mars-1"}, "locations", "mars-1"),
        ({"locations": "local, eu-west-1", "quorum": "3"}, "quorum", "must be between 1 and 2"),
    ],
)
def test_the_admin_refuses_what_the_services_refuse(admin_client, fields, field, text):
    vantages("eu-west-1")

    response = admin_client.post("/admin/netprobe/monitor/add/", admin_data(**fields))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert text in " ".join(errors[field])
    assert not Monitor.objects.exists()


def test_the_history_api_says_where_each_result_ran(operator, answers):
    m = multi_monitor()
    found = play(m, answers, "oxo")[0]

    rows = api_client(operator).get("/api/netprobe/probes/").json()["results"]

    assert {(r["location"], r["measurement"]) for r in rows} == {
        (place, str(found.rows[0].measurement)) for place in ("local", "eu-west-1", "ap-south-1")
    }


def test_the_schema_documents_location_and_measurement_read_only(operator):
    schema = api_client(operator).get("/api/schema/", {"format": "json"}).json()

    fields = schema["components"]["schemas"]["ProbeResult"]["properties"]
    assert fields["location"]["readOnly"] is True
    assert fields["measurement"]["readOnly"] is True
    assert fields["measurement"]["nullable"] is True
