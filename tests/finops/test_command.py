"""`manage.py finops`: a table, a stable JSON, and exit 2 on a figure it cannot price."""

from __future__ import annotations

import datetime
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from portal.models import TrafficDay

ROOT = Path(__file__).resolve().parents[2]


def finops(*args: str) -> str:
    out = io.StringIO()
    call_command("finops", *args, stdout=out)
    return out.getvalue()


def zappa_memory_mb() -> int:
    return json.loads((ROOT / "zappa_settings.json").read_text())["dev"]["memory_size"]


def test_the_table_shows_both_platforms_and_the_crossover(db):
    text = finops("--requests-per-month", "5000000", "--avg-ms", "250")
    assert "5,000,000 requests/month (given), 250 ms average" in text
    for part in ("Lambda", "EKS (3 nodes)", "API Gateway (REST)", "EKS control plane"):
        assert part in text
    assert "EKS becomes cheaper from" in text


def test_the_json_has_a_stable_shape(db):
    data = json.loads(finops("--json", "--requests-per-month", "40e6", "--avg-ms", "200"))
    assert set(data) == {
        "inputs",
        "lambda",
        "eks",
        "crossover_requests_per_month",
        "cheaper",
        "prices",
    }
    assert data["inputs"] == {
        "requests_per_month": 40_000_000,
        "avg_ms": 200.0,
        "memory_mb": zappa_memory_mb(),
        "source": "given",
        "measured_days": 0,
    }
    assert set(data["lambda"]) == {"monthly", "lines"}
    assert set(data["eks"]) == {"monthly", "lines", "nodes"}
    assert set(data["lambda"]["lines"][0]) == {"name", "amount", "detail", "shared"}
    lines_total = sum(x["amount"] for x in data["lambda"]["lines"])
    assert data["lambda"]["monthly"] == pytest.approx(lines_total, abs=0.05)  # each line rounded
    assert data["cheaper"] == (
        "eks" if data["eks"]["monthly"] < data["lambda"]["monthly"] else "lambda"
    )
    assert data["prices"]["region"] == "us-east-1"
    assert "https://aws.amazon.com/lambda/pricing/" in data["prices"]["sources"]


def test_without_figures_it_prices_the_measured_traffic(db):
    today = timezone.localdate()
    for days_ago in range(10):
        TrafficDay.objects.create(
            day=today - datetime.timedelta(days=days_ago),
            module="netprobe",
            requests=1000,
            duration_ms=150_000,
        )
    TrafficDay.objects.create(day=today - datetime.timedelta(days=40), module="sos", requests=10**9)
    data = json.loads(finops("--json", "--memory-mb", "1024"))
    # 10,000 requests over 9 whole days and today so far: a month is 30.4 days' worth.
    assert data["inputs"]["source"] == "measured"
    assert data["inputs"]["measured_days"] == 10
    per_month = data["inputs"]["requests_per_month"]
    assert round(10_000 * 730 / 24 / 10) <= per_month <= round(10_000 * 730 / 24 / 9)
    assert data["inputs"]["avg_ms"] == 150.0
    assert data["inputs"]["memory_mb"] == 1024


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--requests-per-month", "-1"], "argument --requests-per-month: must be 0 or more"),
        (["--avg-ms", "fast"], "argument --avg-ms: must be a number, got 'fast'"),
        (["--memory-mb", "64"], "argument --memory-mb: must be a whole number of MB"),
    ],
)
def test_a_negative_or_non_numeric_figure_exits_2_naming_it(args, named):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    run = subprocess.run(
        [sys.executable, "manage.py", "finops", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert named in run.stderr
    assert run.stdout == ""
