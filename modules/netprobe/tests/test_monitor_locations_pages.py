"""What people see of a monitor run from several locations: a heartbeat row per location that
refreshes with the page, the locations side by side on a result, the API's locations and quorum,
and one series per location on /metrics."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client.parser import text_string_to_metric_families

from modules.netprobe.models import Monitor, MonitorLocation, ProbeResult, Vantage
from portal.test import api_client

from .locations_support import PLACES, SECRET, multi_monitor, play, vantages

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("np_settings")]


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


def live_version(body: str) -> str:
    found = re.search(r'<input type="hidden" name="v" value="([0-9a-f]+)">', body)
    assert found is not None
    return found.group(1)


def location_rows(body: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-location="([^"]+)" data-state="([^"]+)">', body))


# --- the monitor page ---------------------------------------------------------------------------


def test_the_monitor_page_has_a_heartbeat_row_per_location_with_its_state(viewer_client, answers):
    m = multi_monitor()
    play(m, answers, "ooo", "oxx")

    body = viewer_client.get(f"/netprobe/monitors/{m.pk}/").content.decode()

    assert location_rows(body) == {"local": "up", "eu-west-1": "down", "ap-south-1": "down"}
    assert "down from 2 of 3 locations" in body
    assert "down when 2 of 3 locations fail in the same round" in body
    for index in (1, 2, 3):
        bar = re.search(
            rf'<ol class="np-beats" id="heartbeat-location-{index}"[^>]*>(.*?)</ol>', body, re.S
        )
        assert bar is not None
        assert len(re.findall(r'class="np-beat np-beat-(ok|failed)"', bar.group(1))) == 2


def test_an_unavailable_vantage_says_so_on_its_row(viewer_client, answers):
    m = multi_monitor()
    play(m, answers, "ooo", "oo?")

    body = viewer_client.get(f"/netprobe/monitors/{m.pk}/").content.decode()

    row = re.search(r'<tr data-location="ap-south-1".*?</tr>', body, re.S).group(0)
    assert "unavailable" in row
    assert "connection refused" in row
    assert location_rows(body)["ap-south-1"] == "up"  # unknown this round, not down


def test_the_live_part_redraws_the_rows_after_a_round_and_answers_204_otherwise(
    viewer_client, answers
):
    m = multi_monitor()
    play(m, answers, "ooo")
    url = f"/netprobe/monitors/{m.pk}/live/"
    first = viewer_client.get(url)
    version = live_version(first.content.decode())

    assert viewer_client.get(url, {"v": version}).status_code == 204
    play(m, answers, "xxx")
    again = viewer_client.get(url, {"v": version})

    assert again.status_code == 200
    body = again.content.decode()
    assert set(location_rows(body).values()) == {"down"}
    assert "down from 3 of 3 locations" in body


def test_a_location_row_changing_alone_changes_the_live_version(viewer_client, answers):
    m = multi_monitor()
    play(m, answers, "ooo")
    url = f"/netprobe/monitors/{m.pk}/live/"
    version = live_version(viewer_client.get(url).content.decode())

    place = MonitorLocation.objects.get(monitor=m, location="eu-west-1")
    place.unavailable_reason = "timed out after 6 s"
    place.save()

    again = viewer_client.get(url, {"v": version})
    assert again.status_code == 200
    assert "timed out after 6 s" in again.content.decode()


def test_the_monitor_page_costs_the_same_queries_for_3_or_5_locations(viewer_client, answers):
    def queries(places: tuple[str, ...]) -> int:
        m = multi_monitor(places, name="-".join(places))
        play(m, answers, "o" * len(places), places=places)
        with CaptureQueriesContext(connection) as captured:
            assert viewer_client.get(f"/netprobe/monitors/{m.pk}/").status_code == 200
        return len(captured)

    assert queries(PLACES) == queries((*PLACES, "us-east-1", "sa-east-1"))


def test_a_hub_only_monitor_page_has_no_location_rows(viewer_client, tcp_listener):
    from modules.netprobe import services

    m = services.monitor_create(name="hub", kind="tcp", target=tcp_listener.target)
    services.monitor_run_due()

    body = viewer_client.get(f"/netprobe/monitors/{m.pk}/").content.decode()

    assert 'id="locations"' not in body
    assert not location_rows(body)


# --- the result page ----------------------------------------------------------------------------


def test_the_result_page_shows_the_locations_side_by_side_fastest_first(viewer_client, answers):
    m = multi_monitor()
    play(m, answers, "ox?")
    rows = {r.location: r for r in ProbeResult.objects.filter(monitor=m)}
    # The same answer from two places: make one of them slower, as a farther vantage is.
    slow, other = rows["local"], rows["eu-west-1"]
    # Slower than the other place in every phase it measured, whatever this run measured.
    slow.result["timings"] = {
        k: (v + (other.result["timings"].get(k) or 0)) * 3 + 50 if v is not None else v
        for k, v in slow.result["timings"].items()
    }
    slow.save()

    body = viewer_client.get(f"/netprobe/results/{slow.pk}/").content.decode()

    table = re.search(r'<table[^>]*id="locations-compare".*?</table>', body, re.S).group(0)
    order = re.findall(r'<tr data-location="([^"]+)" data-mark="([^"]*)"', table)
    assert order == [("eu-west-1", "fastest"), ("local", "slowest")]
    assert "▲ fastest" in table
    assert "▼ slowest" in table
    assert "(this result)" in table
    unavailable = re.search(
        r'<tr class="np-unavailable" data-location="ap-south-1">.*?</tr>', table
    )
    assert unavailable is not None
    assert "connection refused" in unavailable.group(0)
    assert table.count('<g transform="scale(') == 2


def test_a_single_result_has_no_comparison(viewer_client, answers):
    from .support import make_result

    row = make_result()

    body = viewer_client.get(f"/netprobe/results/{row.pk}/").content.decode()

    assert 'id="locations-compare"' not in body


# --- API and form -------------------------------------------------------------------------------


def payload(**fields):
    return {"name": "shop", "kind": "tcp", "target": "127.0.0.1:9", **fields}


def test_the_api_creates_a_monitor_with_locations_and_a_quorum(operator):
    vantages("eu-west-1", "ap-south-1")
    client = api_client(operator)

    answer = client.post(
        "/api/netprobe/monitors/",
        payload(locations=["local", "eu-west-1", "ap-south-1"], quorum=3),
        format="json",
    )

    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["locations"] == ["local", "eu-west-1", "ap-south-1"]
    assert body["quorum"] == 3
    assert body["location_states"] == []


def test_the_api_refuses_an_unknown_location_naming_it(operator):
    vantages("eu-west-1")

    answer = api_client(operator).post(
        "/api/netprobe/monitors/", payload(locations=["eu-west-1", "mars-1"]), format="json"
    )

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    assert "mars-1" in error["details"]["fields"]["locations"][0]
    assert not Monitor.objects.exists()


@pytest.mark.parametrize("quorum", [0, 4])
def test_the_api_refuses_a_quorum_outside_1_to_the_number_of_locations(operator, quorum):
    vantages("eu-west-1", "ap-south-1")

    answer = api_client(operator).post(
        "/api/netprobe/monitors/",
        payload(locations=["local", "eu-west-1", "ap-south-1"], quorum=quorum),
        format="json",
    )

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["details"]["fields"]) == ["quorum"]


def test_the_api_detail_has_each_locations_state(operator, answers):
    m = multi_monitor()
    play(m, answers, "oxo")

    body = api_client(operator).get(f"/api/netprobe/monitors/{m.pk}/").json()

    states = {s["location"]: s for s in body["location_states"]}
    assert set(states) == set(PLACES)
    assert states["eu-west-1"]["state"] == "down"
    assert states["eu-west-1"]["consecutive_failures"] == 1
    last = ProbeResult.objects.get(monitor=m, location="eu-west-1")
    assert states["eu-west-1"]["last_result_id"] == last.pk


def test_the_openapi_schema_documents_locations_quorum_and_location_states(operator):
    schema = api_client(operator).get("/api/schema/", {"format": "json"}).json()

    monitor = schema["components"]["schemas"]["Monitor"]["properties"]
    assert {"locations", "quorum", "location_states"} <= set(monitor)
    place = schema["components"]["schemas"]["MonitorLocation"]["properties"]
    assert {"location", "state", "last_result_id", "unavailable_reason"} <= set(place)


def test_the_monitor_form_takes_locations_and_names_an_unknown_one(operator_client):
    Vantage.objects.create(name="eu-west-1", url="http://127.0.0.1:9/", secret=SECRET)
    form = {
        "name": "shop",
        "kind": "tcp",
        "target": "127.0.0.1:9",
        "interval_s": 60,
        "failure_threshold": 2,
        "recovery_threshold": 1,
        "enabled": "on",
    }

    page = operator_client.get("/netprobe/monitors/new/").content.decode()
    refused = operator_client.post(
        "/netprobe/monitors/new/", {**form, "locations": "local, mars-1"}
    )
    saved = operator_client.post(
        "/netprobe/monitors/new/", {**form, "locations": "local, eu-west-1", "quorum": "2"}
    )

    assert 'id="id_locations"' in page
    assert "eu-west-1" in page
    assert refused.status_code == 400
    assert "mars-1" in re.search(r'id="locations-error">(.*?)<', refused.content.decode()).group(1)
    assert saved.status_code == 302
    m = Monitor.objects.get()
    assert (m.locations, m.quorum) == (["local", "eu-west-1"], 2)
    edit = operator_client.get(f"/netprobe/monitors/{m.pk}/edit/").content.decode()
    assert 'value="local, eu-west-1"' in edit


# --- /metrics -----------------------------------------------------------------------------------


def samples(operator, name: str) -> dict[str, float]:
    client = api_client(operator)
    text = client.get("/metrics").content.decode()
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return {s.labels["location"]: s.value for s in family.samples}
    return {}


def test_metrics_carry_each_locations_series_and_the_quorum_verdict(operator, answers):
    m = multi_monitor()
    play(m, answers, "oxo")

    up = samples(operator, "netprobe_monitor_up")
    success = samples(operator, "probe_success")

    assert up == {"quorum": 1, "local": 1, "eu-west-1": 0, "ap-south-1": 1}
    assert success == {"quorum": 1, "local": 1, "eu-west-1": 0, "ap-south-1": 1}


def test_metrics_read_every_monitor_and_location_in_one_query(operator, answers, tcp_listener):
    from modules.netprobe import services

    client = api_client(operator)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/metrics").status_code == 200
        netprobe = [q for q in captured.captured_queries if "netprobe_" in q["sql"]]
        assert len(netprobe) == 1
        return len(captured)

    services.monitor_create(name="hub", kind="tcp", target=tcp_listener.target)
    alone = queries()
    play(multi_monitor(), answers, "oxo")
    play(
        multi_monitor((*PLACES, "us-east-1"), name="four"),
        answers,
        "oxoo",
        places=(*PLACES, "us-east-1"),
    )

    assert queries() == alone


# --- the probe form -----------------------------------------------------------------------------


def test_the_probe_form_offers_locations_only_once_a_vantage_is_registered(operator_client):
    before = operator_client.get("/netprobe/").content.decode()
    vantages("eu-west-1")
    after = operator_client.get("/netprobe/").content.decode()

    assert 'name="locations"' not in before
    assert 'id="locations-field"' in after
    assert 'value="local" checked' in after
    assert 'value="eu-west-1"' in after


def test_the_probe_form_names_an_unknown_location(operator_client, http_server):
    vantages("eu-west-1")

    answer = operator_client.post(
        "/netprobe/run/",
        {"kind": "http", "target": f"{http_server.url}/", "locations": ["local", "mars-1"]},
    )

    assert answer.status_code == 400
    assert "mars-1" in re.search(r'id="locations-error">(.*?)<', answer.content.decode()).group(1)
    assert not ProbeResult.objects.exists()


def test_a_run_from_a_dark_vantage_and_the_hub_says_which_did_not_answer(
    operator_client, http_server
):
    vantages("dark-1")

    answer = operator_client.post(
        "/netprobe/run/",
        {"kind": "http", "target": f"{http_server.url}/", "locations": ["local", "dark-1"]},
        follow=True,
    )

    row = ProbeResult.objects.get()
    assert answer.redirect_chain[-1][0] == f"/netprobe/results/{row.pk}/"
    body = answer.content.decode()
    assert "dark-1: vantage unavailable (" in body
    assert '<dd id="result-location">local</dd>' in body
