"""`manage.py netprobe ... --from`: one probe from the hub and from real vantage processes
(127.0.0.2-4, each its own gunicorn with its own secret), as a per-location table or the API's
measurement JSON, with the command's exit codes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from modules.netprobe.models import ProbeResult, Vantage

from .servers import LoopbackHTTPServer
from .vantages import VantageProcess, start_vantages

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("np_settings")]

# Nothing listens there: a vantage that is down.
GONE_URL = "http://127.0.0.5:9"


@pytest.fixture(scope="module")
def target() -> Iterator[LoopbackHTTPServer]:
    with LoopbackHTTPServer() as server:
        yield server


@pytest.fixture(scope="module")
def vantage_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[VantageProcess]]:
    with start_vantages(tmp_path_factory.mktemp("vantages")) as fleet:
        yield fleet


@pytest.fixture
def vantages(vantage_fleet: list[VantageProcess]) -> list[str]:
    for v in vantage_fleet:
        Vantage.objects.create(name=v.name, region=f"test-{v.name}", url=v.url, secret=v.secret)
    return [v.name for v in vantage_fleet]


def netprobe(*args: str) -> tuple[str, int]:
    out = StringIO()
    try:
        call_command("netprobe", *args, stdout=out)
    except SystemExit as exc:
        return out.getvalue(), int(exc.code or 0)
    return out.getvalue(), 0


def table_rows(out: str) -> dict[str, list[str]]:
    """location -> its cells (the reason, which may hold spaces, joined as the last one)."""
    lines = out.strip().splitlines()[2:]  # after the heading and the column names
    rows = {}
    for line in lines:
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = cells
    return rows


@pytest.mark.django_db
def test_it_prints_a_row_per_location_fastest_first(vantages, target):
    out, code = netprobe("http", f"{target.url}/", "--from", "all")

    lines = out.strip().splitlines()
    assert code == 0, out
    assert lines[0] == f"http {target.url}/ from 4 locations: 4 ok, 0 failed, 0 unavailable"
    assert lines[1].split() == [
        *("location", "status", "dns", "connect", "tls", "ttfb", "total", "ms", "reason")
    ]
    rows = table_rows(out)
    assert set(rows) == {"local", *vantages}
    assert all(cells[1] == "ok" for cells in rows.values())
    totals = [float(cells[6]) for cells in rows.values()]
    assert totals == sorted(totals)
    stored = ProbeResult.objects.all()
    assert sorted(stored.values_list("location", flat=True)) == sorted(["local", *vantages])
    assert len(set(stored.values_list("measurement", flat=True))) == 1


@pytest.mark.django_db
def test_a_vantage_that_is_down_is_a_row_with_its_reason_and_exit_1(vantages, target):
    Vantage.objects.create(name="gone", region="test-gone", url=GONE_URL, secret="g" * 40)

    out, code = netprobe("http", f"{target.url}/", "--from", f"{vantages[0]},gone")

    assert code == 1
    assert out.splitlines()[0].endswith("1 ok, 0 failed, 1 unavailable")
    rows = table_rows(out)
    assert list(rows) == [vantages[0], "gone"]  # the one that could not answer comes last
    assert rows["gone"][1] == "unavailable"
    assert len(rows["gone"][-1]) > 5  # why, in a few words
    assert ProbeResult.objects.get().location == vantages[0]


@pytest.mark.django_db
def test_json_prints_the_api_s_measurement(vantages, target):
    out, code = netprobe("http", f"{target.url}/", "--from", ",".join(vantages[:2]), "--json")

    data = json.loads(out)
    assert code == 0
    assert set(data) == {"measurement", "results"}
    assert [e["location"] for e in data["results"]] == vantages[:2]
    for entry in data["results"]:
        assert entry["status"] == "ok"
        assert entry["reason"] == ""
        assert entry["result"]["status"] == "ok"
        assert entry["result"]["result"]["status_code"] == 200
        assert entry["result"]["result"]["timings"]["total_ms"] > 0
        row = ProbeResult.objects.get(pk=entry["result"]["id"])
        assert (row.location, str(row.measurement)) == (entry["location"], data["measurement"])


@pytest.mark.django_db
def test_a_probe_that_fails_from_the_vantages_exits_1_with_the_error(vantages, closed_port):
    out, code = netprobe("tcp", closed_port.target, "--count", "1", "--from", vantages[1])

    assert code == 1
    (cells,) = table_rows(out).values()
    assert cells[1] == "failed"
    assert "connection refused" in cells[-1]


@pytest.mark.django_db
def test_no_save_prints_the_measurement_and_stores_nothing(vantages, target):
    out, code = netprobe("http", f"{target.url}/", "--from", vantages[2], "--json", "--no-save")

    data = json.loads(out)
    assert code == 0
    assert data["measurement"] is None
    (entry,) = data["results"]
    assert (entry["location"], entry["status"]) == (vantages[2], "ok")
    assert entry["result"]["id"] is None
    assert entry["result"]["result"]["status_code"] == 200
    assert not ProbeResult.objects.exists()


@pytest.mark.django_db
def test_from_local_is_the_probe_as_before(target):
    out, code = netprobe("http", f"{target.url}/", "--from", "local")

    assert code == 0
    assert out.startswith(f"http {target.url}/: OK in ")
    assert ProbeResult.objects.get().location == "local"


@pytest.mark.django_db
def test_an_unknown_location_is_refused_with_exit_2_before_anything_runs(vantages, target):
    with pytest.raises(CommandError) as refused:
        netprobe("http", f"{target.url}/", "--from", f"{vantages[0]},mars")
    out, code = netprobe("http", f"{target.url}/", "--from", "mars", "--json")
    _, empty_code = netprobe("http", f"{target.url}/", "--from", "local,,v2", "--json")

    assert refused.value.returncode == 2
    assert str(refused.value).startswith("validation_error: unknown or disabled location 'mars'")
    assert code == 2
    error = json.loads(out)["error"]
    assert error["code"] == "validation_error"
    assert "'mars'" in error["details"]["fields"]["locations"][0]
    assert empty_code == 2
    assert not ProbeResult.objects.exists()
