"""Pages and answers tell the truth about many locations, against real vantage processes on
127.0.0.2-4: the monitor page's top bar shows one beat per round (the monitor's verdict), and an
ad-hoc measurement keeps the locations that did not answer, with why, after it is stored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.html import escape

from modules.netprobe import services
from modules.netprobe.models import ProbeResult, UnavailableLocation, Vantage
from modules.netprobe.views import card_context
from portal.test import api_client

from .servers import LoopbackHTTPServer
from .vantages import VantageProcess, start_vantages

pytestmark = [pytest.mark.slow, pytest.mark.django_db, pytest.mark.usefixtures("np_settings")]

SEEING = "eu-west-1"
BLIND = "us-east-1"  # its egress policy allows only 10.0.0.0/8: every probe of ours fails there
GONE = "ap-south-1"  # a vantage that went down: stopped before any test runs


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[VantageProcess]]:
    home = tmp_path_factory.mktemp("truth-vantages")
    with start_vantages(home, ["127.0.0.2", "127.0.0.4"], names=[SEEING, GONE]) as seeing:
        blind_env = {"EGRESS_ALLOWED_NETWORKS": "10.0.0.0/8"}
        with start_vantages(home, ["127.0.0.3"], names=[BLIND], env=blind_env) as blind:
            seeing[1].stop()
            yield [*seeing, *blind]


@pytest.fixture
def registered(fleet: list[VantageProcess]) -> None:
    for v in fleet:
        Vantage.objects.create(name=v.name, region=v.name, url=v.url, secret=v.secret)


def top_bar(body: str) -> list[str]:
    bar = re.search(r'<ol class="np-beats" id="heartbeat"[^>]*>(.*?)</ol>', body, re.S)
    assert bar is not None
    return re.findall(r'class="np-beat np-beat-(ok|failed|timeout|maintenance)"', bar.group(1))


def location_bar(body: str, index: int) -> list[str]:
    bar = re.search(
        rf'<ol class="np-beats" id="heartbeat-location-{index}"[^>]*>(.*?)</ol>', body, re.S
    )
    assert bar is not None
    return re.findall(r'class="np-beat np-beat-(ok|failed|timeout)"', bar.group(1))


# --- the monitor page's top bar -------------------------------------------------------------------


def test_the_top_bar_shows_one_beat_per_round_and_one_failing_location_is_no_downtime(
    client, viewer, registered
):
    client.force_login(viewer)
    now = timezone.now() - timedelta(hours=1)
    with LoopbackHTTPServer() as target:
        m = services.monitor_create(
            name="shop",
            kind="http",
            target=f"{target.url}/",
            options={"timeout": 2},
            interval_s=60,
            locations=["local", SEEING, BLIND],
            now=now,
        )
        for minute in range(4):
            assert services.monitor_run_due(now=now + timedelta(minutes=minute)).ran == 1
    # The target stopped: every location fails in this round, a down round.
    assert services.monitor_run_due(now=now + timedelta(minutes=4)).ran == 1

    body = client.get(f"/netprobe/monitors/{m.pk}/").content.decode()

    assert ProbeResult.objects.filter(monitor=m).count() == 5 * 3
    assert "Last 50 rounds" in body
    assert top_bar(body) == ["ok", "ok", "ok", "ok", "failed"]
    # Per location the detail stays: the blind vantage failed every round.
    assert location_bar(body, 1) == ["ok"] * 4 + ["failed"]
    assert location_bar(body, 3) == ["failed"] * 5
    # The same rounds as the uptime counts.
    assert re.search(r"80\.00 %<span class=\"np-sub\">5 rounds", body)
    # A round's beat says why, and links to a result of that round.
    first = re.search(
        r'<ol class="np-beats" id="heartbeat".*?href="/netprobe/results/(\d+)/"'
        r' title="([^"]+)"',
        body,
        re.S,
    )
    assert "1 of 3 locations failed (quorum 2)" in first.group(2)
    assert ProbeResult.objects.get(pk=first.group(1)).monitor_id == m.pk


def test_a_monitor_run_from_the_hub_alone_still_shows_its_checks(client, viewer):
    client.force_login(viewer)
    now = timezone.now() - timedelta(hours=1)
    with LoopbackHTTPServer() as target:
        m = services.monitor_create(
            name="hub only", kind="http", target=f"{target.url}/", interval_s=60, now=now
        )
        for minute in range(3):
            services.monitor_run_due(now=now + timedelta(minutes=minute))

    body = client.get(f"/netprobe/monitors/{m.pk}/").content.decode()

    assert "Last 50 checks" in body
    assert top_bar(body) == ["ok", "ok", "ok"]
    assert 'id="heartbeat-location-1"' not in body


# --- ad-hoc measurements keep their unavailable locations ---------------------------------------


def test_the_api_measurement_read_back_later_still_lists_the_unavailable_vantage(
    operator, registered
):
    api = api_client(operator)
    with LoopbackHTTPServer() as target:
        answer = api.post(
            "/api/netprobe/probes/",
            {"kind": "http", "target": f"{target.url}/", "locations": ["local", SEEING, GONE]},
            format="json",
        )
    assert answer.status_code == 201, answer.content
    posted = {e["location"]: e for e in answer.json()["results"]}
    assert posted[GONE]["status"] == "vantage_unavailable"
    assert posted[GONE]["reason"]

    later = api.get(f"/api/netprobe/probes/measurements/{answer.json()['measurement']}/")

    assert later.status_code == 200
    stored = {e["location"]: e for e in later.json()["results"]}
    assert sorted(stored) == sorted(["local", SEEING, GONE])
    assert stored[GONE]["status"] == "vantage_unavailable"
    assert stored[GONE]["result"] is None
    assert stored[GONE]["reason"] == posted[GONE]["reason"]
    assert stored["local"]["result"]["id"] == posted["local"]["result"]["id"]
    # Unavailable is unknown, not a failed probe: the dashboard counts two probes, none failed.
    stats = {s["label"]: s["value"] for s in card_context(None)["stats"]}
    assert (stats["Probes (24 h)"], stats["Failed (24 h)"]) == (2, 0)


def test_an_unknown_measurement_is_a_404_not_found(operator):
    api = api_client(operator)

    missing = api.get("/api/netprobe/probes/measurements/0b9c5f7e-4c1a-4d2e-9f00-000000000000/")

    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_the_result_page_reloaded_still_shows_the_unavailable_vantage_and_why(
    client, operator, registered
):
    client.force_login(operator)
    with LoopbackHTTPServer() as target:
        answer = client.post(
            "/netprobe/run/",
            {"kind": "http", "target": f"{target.url}/", "locations": ["local", GONE]},
        )
    assert answer.status_code == 302
    client.get(answer["Location"])  # the first view, with its flash messages

    body = client.get(answer["Location"]).content.decode()  # reloaded later

    row = re.search(rf'<tr class="np-unavailable" data-location="{GONE}">.*?</tr>', body, re.S)
    assert row is not None
    assert "unavailable" in row.group(0)
    assert "vantage unavailable" not in body  # no flash message left: the page itself says it
    gap = UnavailableLocation.objects.get()
    assert (gap.location, gap.measurement) == (GONE, ProbeResult.objects.get().measurement)
    assert gap.reason
    assert escape(gap.reason) in row.group(0)
    assert "From 2 locations" in body
