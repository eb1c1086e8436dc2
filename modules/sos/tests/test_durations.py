"""Waits read as people say them: "retry in 40 s", not "retry 0 minutes"."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from modules.sos import services
from modules.sos.templatetags.sos_time import ago, humanize_seconds, until
from portal.test import PASSWORD


@pytest.mark.nodb
@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (0.4, "0 s"),
        (1, "1 s"),
        (40, "40 s"),
        (59.4, "59 s"),
        (59.6, "1 min"),
        (60, "1 min"),
        (100, "1 min 40 s"),
        (599, "9 min 59 s"),
        (600, "10 min"),
        (659, "10 min"),  # past ten minutes the seconds are noise
        (3599, "59 min"),
        (3600, "1 h"),
        (3600 + 25 * 60, "1 h 25 min"),
        (86400, "1 d"),
        (2 * 86400 + 3 * 3600 + 59, "2 d 3 h"),
    ],
)
def test_humanizes_durations(seconds, text):
    assert humanize_seconds(seconds) == text


@pytest.mark.nodb
def test_until_and_ago_read_naturally():
    now = timezone.now()
    assert until(now + timedelta(seconds=40), now=now) == "in 40 s"
    assert until(now + timedelta(minutes=5), now=now) == "in 5 min"
    assert until(now - timedelta(seconds=3), now=now) == "now"  # overdue: due at once
    assert ago(now - timedelta(seconds=40), now=now) == "40 s ago"
    assert ago(now, now=now) == "just now"
    assert until(None) == ago(None) == ""


def test_a_pending_retry_shows_seconds_in_the_delivery_table(operator, make_contact):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    alert = services.alert_raise(
        message="Fire", groups=["ops"], require_ack=True, reminder_interval_min=5, reminder_max=1
    ).alert
    alert.deliveries.update(
        last_error="451 try again later", next_attempt_at=timezone.now() + timedelta(seconds=40.4)
    )
    client = Client()
    assert client.login(username=operator.username, password=PASSWORD)
    for url in (f"/sos/alerts/{alert.pk}/", f"/sos/alerts/{alert.pk}/live/"):
        page = client.get(url).content.decode()
        assert re.search(r"retry <time [^>]+>in (39|40) s</time>", page), url
        assert "0 minutes" not in page
    page = client.get(f"/sos/alerts/{alert.pk}/").content.decode()
    assert re.search(r"next reminder <time [^>]+>in (4 min 5\d s|5 min)</time>", page)
