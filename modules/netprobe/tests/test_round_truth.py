"""A monitor run from several locations tells one story everywhere: the monitors list shows its
rounds as its uptime counts them, a round keeps its unavailable locations (result page, API) until
it is pruned, and each round's beat says how many locations failed against the quorum."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from modules.netprobe import services
from modules.netprobe.models import ProbeResult, UnavailableLocation
from modules.netprobe.vantages.measure import measurement_get
from modules.netprobe.vantages.serializers import MeasurementSerializer
from portal.test import api_client

from .locations_support import multi_monitor as monitor
from .locations_support import play

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("np_settings")]

MEASUREMENTS = "/api/netprobe/probes/measurements/"


def list_bar(body: str, pk: int) -> list[str]:
    row = re.search(rf'<tr data-monitor="{pk}">.*?</tr>', body, re.S)
    assert row is not None
    return re.findall(r'class="np-beat np-beat-(ok|failed|timeout)"', row.group(0))


def beat_titles(body: str, pk: int) -> list[str]:
    row = re.search(rf'<tr data-monitor="{pk}">.*?</tr>', body, re.S)
    assert row is not None
    return re.findall(r'<a href="/netprobe/results/\d+/" title="([^"]+)"', row.group(0))


def test_the_list_shows_rounds_so_one_location_failing_under_the_quorum_stays_green(
    client, viewer, answers
):
    client.force_login(viewer)
    m = monitor()
    play(m, answers, "oox", "oox", "oox", "xxx")

    body = client.get("/netprobe/monitors/live/").content.decode()

    # ap-south-1 failed every round, but only the last round reached the quorum of 2.
    assert list_bar(body, m.pk) == ["ok", "ok", "ok", "failed"]
    titles = beat_titles(body, m.pk)
    assert "1 of 3 locations failed (quorum 2)" in titles[0]
    assert "3 of 3 locations failed (quorum 2)" in titles[-1]
    row = re.search(rf'<tr data-monitor="{m.pk}">.*?</tr>', body, re.S).group(0)
    assert "75.00 %" in row  # the same rounds as the bar: 3 up of 4


def test_the_list_with_monitors_run_from_several_locations_costs_fixed_queries(
    client, viewer, answers, django_assert_max_num_queries
):
    client.force_login(viewer)
    for i in range(2):
        play(monitor(name=f"m{i}"), answers, "oox", "xxo")
    client.get("/netprobe/monitors/live/")  # the session and user, cached from now on
    with CaptureQueriesContext(connection) as two:
        body = client.get("/netprobe/monitors/live/").content.decode()
    assert body.count('class="np-beat np-beat-failed"') == 2

    for i in range(2, 8):
        play(monitor(name=f"m{i}"), answers, "oox", "xxo")
    with django_assert_max_num_queries(len(two)):
        body = client.get("/netprobe/monitors/live/").content.decode()

    assert body.count('class="np-beat np-beat-ok"') == 8
    assert body.count('class="np-beat np-beat-failed"') == 8


def test_an_older_rounds_result_page_still_lists_its_unavailable_location(client, viewer, answers):
    client.force_login(viewer)
    m = monitor()
    play(m, answers, "o?o", "ooo")  # eu-west-1 answered again in the newer round
    older = ProbeResult.objects.filter(monitor=m).order_by("id").first()

    body = client.get(f"/netprobe/results/{older.pk}/").content.decode()

    row = re.search(r'<tr class="np-unavailable" data-location="eu-west-1">.*?</tr>', body, re.S)
    assert row is not None
    assert "connection refused" in row.group(0)
    newer = ProbeResult.objects.filter(monitor=m).order_by("id").last()
    newer_body = client.get(f"/netprobe/results/{newer.pk}/").content.decode()
    assert 'class="np-unavailable"' not in newer_body


def test_the_api_lists_a_monitor_rounds_unavailable_location(viewer, answers):
    m = monitor()
    play(m, answers, "x?o")
    measurement = ProbeResult.objects.filter(monitor=m).first().measurement

    answer = api_client(viewer).get(f"{MEASUREMENTS}{measurement}/")

    assert answer.status_code == 200
    entries = {e["location"]: e for e in answer.json()["results"]}
    assert sorted(entries) == ["ap-south-1", "eu-west-1", "local"]
    assert entries["eu-west-1"]["status"] == "vantage_unavailable"
    assert entries["eu-west-1"]["reason"] == "connection refused"
    assert entries["local"]["result"]["status"] == "failed"
    assert entries["ap-south-1"]["result"]["monitor"] == m.pk


def test_reading_a_measurement_back_costs_two_queries(operator, answers, django_assert_num_queries):
    m = monitor()
    play(m, answers, "x?o")
    ProbeResult.objects.filter(monitor=m).update(created_by=operator)
    measurement = ProbeResult.objects.filter(monitor=m).first().measurement

    with django_assert_num_queries(2):
        data = MeasurementSerializer(measurement_get(measurement)).data

    assert {e["result"]["created_by"] for e in data["results"] if e["result"]} == {
        operator.username
    }


def test_the_measurement_endpoint_answers_like_the_other_probe_endpoints_without_a_role(
    anon_api, answers
):
    m = monitor()
    play(m, answers, "ooo")
    url = f"{MEASUREMENTS}{ProbeResult.objects.filter(monitor=m).first().measurement}/"
    nobody = get_user_model().objects.create_user("nobody", password="x")

    assert anon_api.get(url).status_code == 401
    refused = api_client(nobody).get(url)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
    assert api_client(nobody).get("/api/netprobe/probes/").status_code == 403


def test_pruning_deletes_old_unavailable_locations_and_keeps_recent_ones(answers):
    m = monitor()
    play(m, answers, "o?o", "o?o")
    old, recent = (
        ProbeResult.objects.filter(monitor=m).order_by("id").values_list("measurement", flat=True)
    )[::3]
    long_ago = timezone.now() - timedelta(days=40)
    ProbeResult.objects.filter(measurement=old).update(started_at=long_ago)
    UnavailableLocation.objects.filter(measurement=old).update(at=long_ago)

    assert services.results_prune(older_than_days=30) == 2

    assert list(UnavailableLocation.objects.values_list("measurement", flat=True)) == [recent]
