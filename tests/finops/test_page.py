"""The Infrastructure page: operators and staff only, both costs, the chart and the sources."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from portal.models import TrafficDay
from portal.test import make_user

URL = "/infrastructure/"


def test_viewers_are_refused_and_anonymous_users_sent_to_log_in(client, viewer):
    assert client.get(URL).status_code == 302
    client.force_login(viewer)
    assert client.get(URL).status_code == 403
    assert b"Infrastructure" not in client.get("/").content  # no link in the nav either


@pytest.mark.parametrize("who", ["operator", "staff"])
def test_operators_and_staff_see_both_costs_and_the_crossover(client, db, who):
    user = (
        make_user("ada", role="operator")
        if who == "operator"
        else make_user("sam", role=None, is_staff=True)
    )
    client.force_login(user)
    page = client.get(URL).content.decode()
    assert 'href="/infrastructure/"' in page
    for text in ("Lambda", "EKS", "EKS cheaper from", "API Gateway (REST)", "Worker nodes"):
        assert text in page
    assert '<polyline class="fo-lambda"' in page
    assert '<polyline class="fo-eks"' in page
    assert 'class="fo-today"' in page
    assert "https://aws.amazon.com/eks/pricing/" in page
    assert "2026-12-07" in page  # the date the prices were checked


def test_the_measured_traffic_is_listed_per_module_and_day(client, operator):
    today = timezone.localdate()
    TrafficDay.objects.create(day=today, module="faces", requests=40, duration_ms=8000)
    TrafficDay.objects.create(
        day=today - datetime.timedelta(days=1), module="sos", requests=7, duration_ms=70
    )
    client.force_login(operator)
    page = client.get(URL).content.decode()
    assert "of the last 2 days" in page
    assert today.isoformat() in page
    assert '40 <span class="muted small">200 ms</span>' in page
    # What the counts cannot see is said, with the figure it is priced at instead.
    assert "Zappa async invocations" in page
    assert "87,600 a month of 300 ms each" in page


def test_other_figures_are_priced_and_bad_ones_explained(client, operator):
    client.force_login(operator)
    page = client.get(URL, {"requests_per_month": "100000000", "avg_ms": "100"}).content.decode()
    assert 'id="fo-traffic">100M' in page
    assert "the figures below" in page
    page = client.get(URL, {"requests_per_month": "-3", "memory_mb": "lots"}).content.decode()
    assert "must be 0 or more, got &#x27;-3&#x27;" in page
    assert "must be a number, got &#x27;lots&#x27;" in page
    assert 'aria-invalid="true"' in page
