"""GET /api/sos/alerts/<id>/roll-call/: the roll-call as JSON or as a spreadsheet-safe CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from modules.sos import services
from modules.sos.answers import STATUS_ORDER, AnswerLocation
from modules.sos.models import Group
from modules.sos.tests.test_views import login


@pytest.fixture
def alert(make_contact):
    make_contact("Ann", email="ann@example.com", phone="+15555550101", groups=["floor 2"])
    make_contact("=Bob", email="bob@example.com", groups=["floor 2"])
    make_contact("Zoë", email="zoe@example.com", groups=["floor 3"])
    alert = services.alert_raise(message="Evacuate", groups=["floor 2", "floor 3"]).alert
    ann = alert.deliveries.get(contact__name="Ann", kind="sms")
    services.delivery_answer(
        delivery=ann,
        answer="need_help",
        note='=HYPERLINK("http://evil.example","click"), "quoted"\nline two',
        location=AnswerLocation(-33.8568, 151.2153, 12.0),
        via="sms",
    )
    bob = alert.deliveries.get(contact__name="=Bob")
    services.delivery_answer(delivery=bob, answer="safe", note="@SUM(A1:A9)")
    return alert


def url(alert, query: str = "") -> str:
    return f"/api/sos/alerts/{alert.pk}/roll-call/{query}"


def test_it_answers_one_entry_per_person_with_counts_and_banners(viewer_api, alert):
    body = viewer_api.get(url(alert)).json()
    assert (body["alert"], body["alert_status"], body["ack_kind"]) == (alert.pk, "open", "safety")
    assert body["live"] is True
    assert body["total"] == 3
    counts = {c["status"]: c["count"] for c in body["counts"]}
    assert counts == {"need_help": 1, "no_answer": 1, "received": 0, "safe": 1}
    ann, zoe, bob = body["people"]
    assert (ann["name"], ann["status"], ann["channel"], ann["via"]) == (
        "Ann",
        "need_help",
        "sms",
        "sms",
    )
    assert ann["location"]["lat"] == -33.8568
    assert ann["location"]["map_url"].startswith("https://www.openstreetmap.org/?mlat=-33.856800")
    assert ann["answered_after_close"] is False
    assert sorted(d["kind"] for d in ann["deliveries"]) == ["email", "sms"]
    assert ann["groups"] == ["floor 2"]
    assert (zoe["status"], zoe["answered_at"], zoe["channel"], zoe["location"]) == (
        "no_answer",
        None,
        "",
        None,
    )
    assert bob["status"] == "safe"
    assert [p["name"] for p in body["need_help"]] == ["Ann"]


def test_it_filters_like_the_page(viewer_api, alert):
    group = Group.objects.get(name="floor 3")
    assert [p["name"] for p in viewer_api.get(url(alert, "?status=safe")).json()["people"]] == [
        "=Bob"
    ]
    for value in (group.pk, "floor 3"):
        people = viewer_api.get(url(alert), {"group": value}).json()["people"]
        assert [p["name"] for p in people] == ["Zoë"]
    assert viewer_api.get(url(alert), {"group": "nope"}).json()["people"] == []
    assert [p["name"] for p in viewer_api.get(url(alert), {"q": "quoted"}).json()["people"]] == [
        "Ann"
    ]


def test_a_bad_filter_is_a_400_in_the_error_envelope(viewer_api, alert):
    response = viewer_api.get(url(alert, "?status=maybe"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert viewer_api.get(url(alert), {"q": "a\x00b"}).status_code == 400
    as_csv = viewer_api.get(url(alert, "?format=csv&status=maybe"))
    assert as_csv.status_code == 400
    assert as_csv["Content-Type"] == "application/json"
    assert as_csv.json()["error"]["code"] == "validation_error"


def test_an_unknown_alert_is_404_and_anonymous_is_401(viewer_api, anon_api, alert):
    assert viewer_api.get("/api/sos/alerts/999999/roll-call/").status_code == 404
    assert anon_api.get(url(alert)).status_code == 401


def read_csv(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: spreadsheets read "Zoë" right
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_the_csv_export_is_safe_to_open_in_a_spreadsheet(viewer_api, alert):
    response = viewer_api.get(url(alert, "?format=csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="alert-{alert.pk}-roll-call.csv"' in response["Content-Disposition"]
    header, ann, zoe, bob = read_csv(response.content)
    assert header[:4] == ["name", "status", "status_label", "answered_at"]
    row = dict(zip(header, ann, strict=True))
    assert row["note"] == '\'=HYPERLINK("http://evil.example","click"), "quoted"\nline two'
    assert (row["latitude"], row["longitude"], row["accuracy_m"]) == (
        "-33.8568",
        "151.2153",
        "12.0",
    )  # numbers stay numbers
    assert (row["status"], row["answered_via"], row["answered_after_close"]) == (
        "need_help",
        "sms",
        "no",
    )
    assert row["deliveries"] == "email:pending; sms:acknowledged"
    assert dict(zip(header, zoe, strict=True))["name"] == "Zoë"
    bob_row = dict(zip(header, bob, strict=True))
    assert (bob_row["name"], bob_row["note"]) == ("'=Bob", "'@SUM(A1:A9)")
    for cells in (ann, zoe, bob):
        for cell in cells:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell


def test_the_csv_follows_the_filters_and_the_accept_header(viewer_api, alert):
    content = viewer_api.get(url(alert, "?status=safe"), HTTP_ACCEPT="text/csv").content
    assert [r[0] for r in read_csv(content)] == ["name", "'=Bob"]


def test_the_page_export_is_the_same_file(viewer, viewer_api, alert):
    page = login(viewer).get(f"/sos/alerts/{alert.pk}/roll-call.csv?status=need_help")
    assert page.status_code == 200
    assert page["Content-Disposition"].startswith("attachment;")
    api = viewer_api.get(url(alert, "?format=csv&status=need_help"))
    assert page.content == api.content


def test_the_number_of_queries_does_not_grow_with_the_recipients(viewer_api, make_contact):
    counts = []
    for n in (2, 20):
        for i in range(n):
            make_contact(f"P{n}-{i}", email=f"p{n}{i}@example.com", groups=[f"g{n}"])
        alert = services.alert_raise(message="Fire", groups=[f"g{n}"]).alert
        for d in alert.deliveries.all()[: n // 2]:
            services.delivery_answer(delivery=d, answer="safe")
        measured = []
        for query in ("", "?format=csv", "?group=g2"):
            with CaptureQueriesContext(connection) as ctx:
                assert viewer_api.get(url(alert, query)).status_code == 200
            measured.append(len(ctx.captured_queries))
        counts.append(measured)
    assert counts[0] == counts[1], counts


def test_the_operation_is_in_the_openapi_schema_with_every_status(operator_api):
    schema = operator_api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/sos/alerts/{id}/roll-call/"]["get"]
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    for code in ("400", "401", "403", "404"):
        assert code in operation["responses"], code
    params = {p["name"]: p for p in operation["parameters"]}
    assert sorted(params["status"]["schema"]["enum"]) == sorted(STATUS_ORDER)
    assert set(params) >= {"status", "group", "q", "format"}
    person = schema["components"]["schemas"]["SosRollCallPerson"]["properties"]["status"]
    ref = person.get("$ref") or person["allOf"][0]["$ref"]
    enum = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["enum"]
    assert sorted(enum) == sorted(STATUS_ORDER)
