"""An alert's pages name only the answers its recipients were asked for: an incident (a
NetProbe monitor, a PagerDuty integration) counts "on it" and "can't help", never "I am safe"
or "I need help"; a safety check the reverse. Answers go through the real acknowledgement
link; the page, its live part and the roll-call are read as an operator sees them."""

from __future__ import annotations

import html
import re

import pytest
from django.test import Client

from modules.sos import services
from modules.sos.ack_links import ack_token
from modules.sos.models import Alert, Delivery
from modules.sos.tests.test_alert_page import login

SAFETY_WORDS = ("I am safe", "I need help", "answers-safe", "answers-need_help")
INCIDENT_WORDS = ("On it", "Can't help", "answers-on_it", "answers-cant_help")


def raise_alert(make_contact, receiver, dispatch, *, source: str, severity: str = "critical"):
    for name in ("Ann", "Bob", "Cid"):
        make_contact(name, webhook=receiver.url(f"/{source}/{name.lower()}"), groups=[source])
    alert = services.alert_raise(
        message="db01 down", groups=[source], source=source, severity=severity
    ).alert
    report = dispatch()
    assert report.sent == 3
    return alert


def answer_by_link(alert: Alert, name: str, choice: str) -> None:
    delivery = Delivery.objects.get(alert=alert, contact_name=name)
    response = Client().post(f"/sos/ack/{ack_token(delivery.pk)}/", {"answer": choice})
    assert response.status_code == 200, response.content.decode()[:300]
    delivery.refresh_from_db()
    assert delivery.last_answer == choice


def badges(page: str) -> dict[str, str]:
    """The "Latest answers" badges: {"on_it": "on it 1", ...}."""
    line = re.search(r'<p class="sos-answers"[^>]*>(.*?)</p>', page, re.S)
    assert line, "no Latest answers line"
    found = re.findall(r'id="answers-(\w+)">([^<]*)<', line.group(1))
    return {key: html.unescape(text) for key, text in found}


def roll_call_counts(page: str) -> dict[str, str]:
    return dict(re.findall(r'id="rc-count-(\w+)"[^>]*>(\d+)<', page))


def text(response) -> str:
    assert response.status_code == 200
    return html.unescape(response.content.decode())


@pytest.fixture
def incident(make_contact, receiver, dispatch) -> Alert:
    return raise_alert(make_contact, receiver, dispatch, source="netprobe")


@pytest.fixture
def safety(make_contact, receiver, dispatch) -> Alert:
    return raise_alert(make_contact, receiver, dispatch, source="ui")


def test_an_incident_page_names_only_on_it_and_cant_help(operator, incident):
    answer_by_link(incident, "Ann", "on_it")
    answer_by_link(incident, "Bob", "cant_help")
    client = login(operator)
    for url in (f"/sos/alerts/{incident.pk}/", f"/sos/alerts/{incident.pk}/live/"):
        page = text(client.get(url))
        assert badges(page) == {"on_it": "on it 1", "cant_help": "can't help 1"}, url
        assert "On it" in page  # the answer column
        assert "Can't help" in page
        for word in (*SAFETY_WORDS, "answers-received", "who is safe"):
            assert word not in page, (url, word)
        assert "2 acknowledged (1 on it, 1 can't help)" in page


def test_a_pagerduty_incident_is_an_incident_too(operator, make_contact, receiver, dispatch):
    alert = raise_alert(make_contact, receiver, dispatch, source="pagerduty:db-team")
    answer_by_link(alert, "Cid", "cant_help")
    page = text(login(operator).get(f"/sos/alerts/{alert.pk}/"))
    assert badges(page) == {"on_it": "on it 0", "cant_help": "can't help 1"}
    assert not any(word in page for word in SAFETY_WORDS)


def test_a_safety_page_names_only_safe_need_help_and_received(operator, safety):
    answer_by_link(safety, "Ann", "safe")
    answer_by_link(safety, "Bob", "need_help")
    page = text(login(operator).get(f"/sos/alerts/{safety.pk}/"))
    assert badges(page) == {"need_help": "need help 1", "received": "received 0", "safe": "safe 1"}
    assert "I am safe" in page
    assert "I need help" in page
    for word in INCIDENT_WORDS:
        assert word not in page, word
    assert "who is safe, who needs help" in page


def test_an_incident_answer_with_only_a_note_reads_acknowledged(operator, incident):
    answer_by_link(incident, "Ann", "received")
    page = text(login(operator).get(f"/sos/alerts/{incident.pk}/"))
    shown = {"cant_help": "can't help 0", "received": "acknowledged 1", "on_it": "on it 0"}
    assert badges(page) == shown
    assert "received" not in " ".join(badges(page).values())
    assert "(1 acknowledged)" in page


def test_an_info_notice_counts_only_acknowledgements(operator, make_contact, receiver, dispatch):
    alert = raise_alert(make_contact, receiver, dispatch, source="netprobe", severity="info")
    answer_by_link(alert, "Ann", "received")
    client = login(operator)
    page = text(client.get(f"/sos/alerts/{alert.pk}/"))
    assert badges(page) == {"received": "acknowledged 1"}
    roll_call = text(client.get(f"/sos/alerts/{alert.pk}/roll-call/"))
    assert roll_call_counts(roll_call) == {"no_answer": "2", "received": "1"}


def test_the_incident_roll_call_counts_only_incident_answers(operator, incident):
    answer_by_link(incident, "Ann", "on_it")
    client = login(operator)
    for url in ("roll-call/", "roll-call/live/"):
        page = text(client.get(f"/sos/alerts/{incident.pk}/{url}"))
        assert roll_call_counts(page) == {"cant_help": "0", "no_answer": "2", "on_it": "1"}, url
    api = client.get(f"/api/sos/alerts/{incident.pk}/roll-call/").json()
    assert {c["status"] for c in api["counts"]} == {"cant_help", "no_answer", "on_it"}


def test_the_safety_roll_call_counts_only_safety_answers(operator, safety):
    answer_by_link(safety, "Ann", "safe")
    page = text(login(operator).get(f"/sos/alerts/{safety.pk}/roll-call/"))
    counts = roll_call_counts(page)
    assert counts == {"need_help": "0", "no_answer": "2", "received": "0", "safe": "1"}
