"""How location names are read, the same everywhere (vantages/locations.py), and how a location
counts in a quorum round while it recovers."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from django.core.management import call_command

from modules.netprobe import services
from modules.netprobe.models import Monitor, Vantage
from modules.netprobe.monitoring import MonitorInvalid

from .locations_support import answers, multi_monitor, play  # noqa: F401  (a fixture)
from .servers import TcpListener
from .vantages import new_secret

pytestmark = [pytest.mark.usefixtures("np_settings"), pytest.mark.django_db]

PROBES = "/api/netprobe/probes/"
BATCHES = "/api/netprobe/batches/"
MONITORS = "/api/netprobe/monitors/"
MIXED = [["local", "all"], ["all", "eu"]]


def test_a_location_that_answered_fine_while_recovering_is_not_counted_as_failing(answers):  # noqa: F811
    m = multi_monitor(failure_threshold=1, recovery_threshold=3)

    rounds = play(m, answers, "ooo", "xoo", "oxo")

    m.refresh_from_db()
    # No round had two failures: local recovers in round 3, it does not fail.
    assert m.state != Monitor.State.DOWN
    assert rounds[-1].failing == ["eu-west-1"]


@pytest.fixture
def eu() -> None:
    Vantage.objects.create(name="eu", region="eu", url="http://127.0.0.2:9", secret=new_secret())


@pytest.mark.usefixtures("eu")
@pytest.mark.parametrize("locations", MIXED, ids=["local+all", "all+eu"])
def test_all_next_to_other_names_is_refused_by_probes_batches_and_monitors(operator_api, locations):
    probe = {"kind": "tcp", "target": "127.0.0.1:9", "locations": locations}
    batch = {"items": [{"kind": "tcp", "target": "127.0.0.1:9"}], "locations": locations}
    monitor = {"name": "m", "kind": "tcp", "target": "127.0.0.1:9", "locations": locations}

    for path, payload in ((PROBES, probe), (BATCHES, batch), (MONITORS, monitor)):
        response = operator_api.post(path, payload, format="json")
        assert response.status_code == 400, (path, response.json())
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert "'all'" in error["details"]["fields"]["locations"][0], path
    assert not Monitor.objects.exists()


@pytest.mark.usefixtures("eu")
def test_all_next_to_other_names_is_refused_by_the_services_and_the_cli():
    with pytest.raises(MonitorInvalid) as refused:
        services.monitor_create(name="m", kind="tcp", target="127.0.0.1:9", locations="all, eu")
    assert "'all'" in refused.value.errors["locations"]

    out = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("netprobe", "tcp", "127.0.0.1:9", "--from", "all,eu", "--json", stdout=out)
    assert exited.value.code == 2
    assert json.loads(out.getvalue())["error"]["code"] == "validation_error"


def test_asking_for_all_answers_results_even_while_no_vantage_is_registered(operator_api):
    with TcpListener() as listener:
        batch = operator_api.post(
            BATCHES,
            {
                "items": [{"kind": "tcp", "target": listener.target, "count": 1}],
                "locations": ["all"],
            },
            format="json",
        )
        out = StringIO()
        call_command(
            "netprobe",
            "tcp",
            listener.target,
            "--count",
            "1",
            "--from",
            "all",
            "--json",
            "--no-save",
            stdout=out,
        )

    assert batch.status_code == 201, batch.json()
    (measurement,) = batch.json()["results"]
    assert [e["location"] for e in measurement["results"]] == ["local"]
    assert [e["location"] for e in json.loads(out.getvalue())["results"]] == ["local"]


def test_exactly_local_keeps_the_single_answer(operator_api):
    with TcpListener() as listener:
        response = operator_api.post(
            PROBES,
            {"kind": "tcp", "target": listener.target, "count": 1, "locations": ["local"]},
            format="json",
        )
    assert response.status_code == 201
    assert response.json()["status"] == "ok"


def metric_locations(api, name: str) -> set[str]:
    from prometheus_client.parser import text_string_to_metric_families

    text = api.get("/metrics").content.decode()
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return {s.labels["location"] for s in family.samples}
    return set()


def test_metrics_drop_a_location_the_monitor_no_longer_runs_at(operator_api, answers):  # noqa: F811
    m = multi_monitor(locations=["all"])
    play(m, answers, "oxo")
    assert metric_locations(operator_api, "netprobe_monitor_up") == {
        "quorum",
        "local",
        "eu-west-1",
        "ap-south-1",
    }

    Vantage.objects.filter(name="eu-west-1").update(enabled=False)

    # Its last state would otherwise keep an alert rule firing for a vantage no longer asked.
    assert metric_locations(operator_api, "netprobe_monitor_up") == {
        "quorum",
        "local",
        "ap-south-1",
    }


def test_a_batch_past_the_limit_in_items_x_locations_names_locations(settings, operator_api):
    settings.NETPROBE_BATCH_MAX = 3
    Vantage.objects.create(name="eu", region="eu", url="http://127.0.0.2:9", secret=new_secret())
    items = [{"kind": "tcp", "target": "127.0.0.1:9"}] * 2

    response = operator_api.post(
        BATCHES, {"items": items, "locations": ["local", "eu"]}, format="json"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    (message,) = error["details"]["fields"]["locations"]
    assert "2 item(s) at 2 location(s) is 4 probes" in message


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


@pytest.mark.parametrize("state", ["unknown", "paused"])
def test_a_multi_location_monitor_not_up_is_not_said_to_be_up_at_0_locations(
    viewer_client,
    answers,  # noqa: F811
    state,
):
    m = multi_monitor(recovery_threshold=3)
    play(m, answers, "ooo")  # every location one success short of up
    if state == "paused":
        services.monitor_pause(monitor=m)

    body = viewer_client.get(f"/netprobe/monitors/{m.pk}/").content.decode()

    assert "up at 0 of 3" not in body
    assert "up at" not in body


def test_the_heartbeat_rows_read_only_recent_history_and_still_show_the_newest(
    viewer_client,
    answers,  # noqa: F811
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from modules.netprobe.selectors import HEARTBEATS

    m = multi_monitor()
    rounds = play(m, answers, *["oxo"] * (3 * HEARTBEATS), "xoo")

    with CaptureQueriesContext(connection) as captured:
        body = viewer_client.get(f"/netprobe/monitors/{m.pk}/").content.decode()

    (beats_sql,) = [q["sql"] for q in captured if "ROW_NUMBER" in q["sql"].upper()]
    assert 'started_at" >=' in beats_sql  # an index range, not the whole history
    bars = re.findall(
        r'<ol class="np-beats" id="heartbeat-location-\d"[^>]*>(.*?)</ol>', body, re.S
    )
    assert [len(re.findall(r'class="np-beat np-beat-', bar)) for bar in bars] == [HEARTBEATS] * 3
    assert rounds[-1].failing == ["local"]
