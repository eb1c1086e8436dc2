"""What a monitor's last check found, on its page: the conditions and the certificate expiry it
warned about; a result's conditions one per line; cards that say "just now", not "0 minutes"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from modules.netprobe.models import Monitor
from portal.templatetags.portal_time import ago

from .support import make_result

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("np_settings")]
CONDITIONS = [
    {"condition": "[STATUS] == 200", "success": False, "value": 503},
    {"condition": "[RESPONSE_TIME] < 500", "success": True, "value": 42},
]


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def monitor_with_last(result: dict, **fields) -> Monitor:
    values = {"name": "Shop", "kind": "tls", "target": "shop.example:443", "state": "up"}
    monitor = Monitor.objects.create(**{**values, **fields})
    last = make_result(monitor=monitor, kind=monitor.kind, target=monitor.target, result=result)
    Monitor.objects.filter(pk=monitor.pk).update(last_result=last)
    return monitor


def test_the_monitor_page_shows_the_last_checks_conditions(viewer_client):
    monitor = monitor_with_last({"conditions": CONDITIONS}, kind="http", target="https://shop/")

    page = viewer_client.get(f"/netprobe/monitors/{monitor.pk}/").content.decode()

    conditions = re.search(r'<section[^>]*id="conditions".*?</section>', page, re.S)
    assert conditions is not None
    items = re.findall(r'<li data-success="(\w+)">.*?<code>(.*?)</code>', conditions.group(0), re.S)
    assert items == [("false", "[STATUS] == 200"), ("true", "[RESPONSE_TIME] &lt; 500")]
    assert "got <code>503</code>" in conditions.group(0)


def test_the_monitor_page_shows_the_next_certificate_expiry_and_the_one_warned_about(
    viewer_client,
):
    soon = (timezone.now() + timedelta(days=9, hours=12)).replace(microsecond=0)
    chain = [
        {"subject_cn": "shop.example", "not_after": (soon + timedelta(days=80)).isoformat()},
        {"subject_cn": "Acme Intermediate", "not_after": soon.isoformat()},
    ]
    monitor = monitor_with_last({"chain": chain}, cert_expiry_days=14, cert_warned_expiry=soon)

    page = viewer_client.get(f"/netprobe/monitors/{monitor.pk}/").content.decode()

    when = soon.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    nxt = re.search(r'<dd id="cert-next">(.*?)</dd>', page, re.S).group(1)
    assert "Chain certificate #2 <code>Acme Intermediate</code>" in nxt
    assert f'datetime="{when}' in nxt
    assert "9 days left" in nxt
    warned = re.search(r'<dd id="cert-warned">(.*?)</dd>', page, re.S).group(1)
    assert f'datetime="{when}' in warned
    assert "14 days before" in page


def test_a_monitor_without_certificates_has_no_certificate_panel(viewer_client):
    monitor = monitor_with_last({}, kind="tcp")

    page = viewer_client.get(f"/netprobe/monitors/{monitor.pk}/").content.decode()

    assert 'id="certificate"' not in page
    assert 'id="conditions"' not in page


def test_the_result_page_lists_the_conditions_option_one_per_line(viewer_client):
    options = {"conditions": ["[STATUS] == 200", "[BODY].ok == true"], "method": "GET"}
    result = make_result(kind="http", target="https://shop/", options=options)

    page = viewer_client.get(f"/netprobe/results/{result.pk}/").content.decode()

    listed = re.search(r'<ul class="np-conditions" id="option-conditions">(.*?)</ul>', page, re.S)
    assert re.findall(r"<li><code>(.*?)</code></li>", listed.group(1)) == [
        "[STATUS] == 200",
        "[BODY].ok == true",
    ]
    assert "[&#x27;" not in page  # no Python list repr
    assert "<code>method=GET</code>" in page


def test_the_dashboard_card_says_just_now_for_a_check_seconds_ago(viewer_client):
    make_result(kind="tcp", target="db.example:5432", ago=timedelta(seconds=5))
    make_result(kind="tcp", target="web.example:443", ago=timedelta(minutes=3, seconds=30))

    card = viewer_client.get("/dashboard/cards/netprobe/").content.decode()

    assert "0 minutes" not in card
    assert re.search(r"<time [^>]*>just now</time>", card)
    assert re.search(r"<time [^>]*>3\xa0minutes ago</time>", card)


def test_ago_is_just_now_under_a_minute_then_what_timesince_says():
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    assert ago(now - timedelta(seconds=59), now) == "just now"
    assert ago(now - timedelta(minutes=1), now) == "1\xa0minute ago"
    assert ago(now - timedelta(hours=2, minutes=5), now) == "2\xa0hours, 5\xa0minutes ago"
    assert ago(None) == ""
