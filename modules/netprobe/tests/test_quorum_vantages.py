"""A quorum monitor end to end: the hub (this process) and three real vantage processes on
127.0.0.2-4, one of which can never reach the target (its own egress policy refuses it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from modules.netprobe import services
from modules.netprobe.models import MonitorLocation, ProbeResult, Vantage

from .servers import LoopbackHTTPServer
from .vantages import VantageProcess, start_vantages

pytestmark = [pytest.mark.slow, pytest.mark.django_db, pytest.mark.usefixtures("np_settings")]

SEEING = ("eu-west-1", "ap-south-1")
BLIND = "us-east-1"  # its egress policy allows only 10.0.0.0/8: every probe of ours fails there


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[VantageProcess]]:
    home = tmp_path_factory.mktemp("quorum-vantages")
    with start_vantages(home, ["127.0.0.2", "127.0.0.3"], names=SEEING) as seeing:
        blind_env = {"EGRESS_ALLOWED_NETWORKS": "10.0.0.0/8"}
        with start_vantages(home, ["127.0.0.4"], names=[BLIND], env=blind_env) as blind:
            yield [*seeing, *blind]


def test_one_blind_vantage_pages_nobody_and_a_real_outage_pages_within_two_rounds(fleet):
    from modules.sos.models import Alert, Contact, ContactMethod, Group

    for v in fleet:
        Vantage.objects.create(name=v.name, region=v.name, url=v.url, secret=v.secret)
    group = Group.objects.create(name="on-call")
    contact = Contact.objects.create(name="on-call person")
    ContactMethod.objects.create(contact=contact, kind="email", address="oncall@example.com")
    group.members.add(contact)
    now = timezone.now()

    with LoopbackHTTPServer() as target:
        m = services.monitor_create(
            name="shop",
            kind="http",
            target=f"{target.url}/",
            options={"timeout": 2},
            interval_s=60,
            failure_threshold=2,
            recovery_threshold=1,
            sos_group=group,
            locations=[*SEEING, BLIND],
            now=now,
        )
        for round_ in range(6):
            summary = services.monitor_run_due(now=now + timedelta(minutes=round_))
            assert summary.ran == 1

        m.refresh_from_db()
        assert m.state == "up"
        assert Alert.objects.count() == 0
        states = dict(MonitorLocation.objects.filter(monitor=m).values_list("location", "state"))
        assert states == {"eu-west-1": "up", "ap-south-1": "up", BLIND: "down"}
        blind_rows = ProbeResult.objects.filter(monitor=m, location=BLIND)
        assert blind_rows.count() == 6
        assert {r.error_code for r in blind_rows} == {"forbidden"}

    # The target stopped: every vantage now fails; two rounds (failure_threshold) take it down.
    first = services.monitor_run_due(now=now + timedelta(minutes=6))
    second = services.monitor_run_due(now=now + timedelta(minutes=7))

    assert first.transitions == []
    assert second.transitions == ["shop: up -> down"]
    alert = Alert.objects.get()
    assert "down from eu-west-1, ap-south-1, us-east-1 (3 of 3)" in alert.message
    rows = ProbeResult.objects.filter(monitor=m)
    assert rows.count() == 8 * 3
    assert rows.values("measurement").distinct().count() == 8


def test_the_probe_form_runs_from_the_hub_and_two_vantages_and_compares_them(client, fleet):
    import re

    from portal.test import make_user

    for v in fleet:
        Vantage.objects.create(name=v.name, region=v.name, url=v.url, secret=v.secret)
    client.force_login(make_user("olivia", role="operator"))

    with LoopbackHTTPServer() as target:
        answer = client.post(
            "/netprobe/run/",
            {"kind": "http", "target": f"{target.url}/", "locations": ["local", *SEEING]},
            follow=True,
        )

    assert answer.status_code == 200
    body = answer.content.decode()
    table = re.search(r'<table[^>]*id="locations-compare".*?</table>', body, re.S).group(0)
    shown = re.findall(r'<tr data-location="([^"]+)" data-mark="([^"]*)"', table)
    assert sorted(name for name, _ in shown) == sorted(["local", *SEEING])
    assert sorted(mark for _, mark in shown) == ["", "fastest", "slowest"]
    assert ProbeResult.objects.values("measurement").distinct().count() == 1
