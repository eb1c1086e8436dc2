"""Bad input is a 4xx with a reason, never a 500: over-long CSV cells, ids beyond a 64-bit
integer or written in other digits, and NUL bytes (which PostgreSQL cannot store) in filters.
These run on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from modules.sos.models import Alert, Contact, ContactMethod, Group

HUGE = "99999999999999999999999"


def import_csv(api, text: str):
    return api.post("/api/sos/contacts/import/", {"csv": text}, format="json")


def test_a_csv_name_longer_than_a_contact_name_is_a_row_error(operator_api, db):
    response = import_csv(operator_api, f"name,groups\nAnn,ops\n{'n' * 151},ops\n")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "csv_invalid"
    (line,) = error["details"]["lines"]
    assert line["line"] == 3
    assert "longer than 150" in " ".join(line["errors"])
    assert not Contact.objects.exists()


def test_a_csv_group_name_longer_than_a_group_name_is_a_row_error(operator_api, db):
    response = import_csv(operator_api, f"name,groups\nAnn,{'g' * 101}\n")
    assert response.status_code == 400, response.content
    (line,) = response.json()["error"]["details"]["lines"]
    assert "longer than 100" in " ".join(line["errors"])
    assert not Group.objects.exists()


def test_a_csv_webhook_longer_than_an_address_is_a_row_error(operator_api, db):
    url = "https://hooks.example.com/" + "a" * 2000
    response = import_csv(operator_api, f"name,webhook\nBot,{url}\n")
    assert response.status_code == 400, response.content
    (line,) = response.json()["error"]["details"]["lines"]
    assert "longer than 2000" in " ".join(line["errors"])
    assert not ContactMethod.objects.exists()


def test_a_csv_file_with_nul_bytes_is_refused(operator_api, db):
    upload = SimpleUploadedFile("contacts.csv", b"name,notes\nAnn,a\x00b\n", "text/csv")
    response = operator_api.post("/api/sos/contacts/import/", {"file": upload}, format="multipart")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "csv_invalid"
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        f"/api/sos/deliveries/?alert={HUGE}",
        "/api/sos/deliveries/?alert=%C2%B2",
        f"/api/sos/contact-methods/?contact={HUGE}",
        "/api/sos/contact-methods/?contact=%C2%B2",
        f"/api/sos/contacts/?group={HUGE}",
        "/api/sos/contacts/?group=%C2%B2",
    ],
)
def test_an_id_filter_no_row_can_match_finds_nothing(operator_api, make_contact, path):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    response = operator_api.get(path)
    assert response.status_code == 200, response.content
    assert response.json()["results"] == []


@pytest.mark.parametrize(
    "path",
    [
        f"/api/sos/alerts/{HUGE}/",
        f"/api/sos/contacts/{HUGE}/",
        f"/api/sos/deliveries/{HUGE}/",
    ],
)
def test_an_id_beyond_a_64_bit_integer_is_not_found(operator_api, db, path):
    assert operator_api.get(path).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "alerts/?dedup_key=a%00b",
        "alerts/?status=a%00b",
        "alerts/?source=a%00b",
        "deliveries/?state=a%00b",
        "deliveries/?kind=a%00b",
        "contacts/?q=a%00b",
        "contacts/?group=a%00b",
    ],
)
def test_a_nul_byte_in_a_filter_is_a_validation_error(operator_api, db, query):
    response = operator_api.get(f"/api/sos/{query}")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "NUL" in error["message"]


def test_a_nul_byte_in_the_idempotency_key_is_a_validation_error(operator_api, make_contact):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    response = operator_api.post(
        "/api/sos/alerts/",
        {"message": "Fire", "groups": ["ops"]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="a\x00b",
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_error"
    assert not Alert.objects.exists()


@pytest.mark.parametrize("group", [HUGE, "²"])
def test_raising_to_an_impossible_group_id_names_the_unknown_group(operator_api, db, group):
    response = operator_api.post(
        "/api/sos/alerts/", {"message": "Fire", "groups": [group]}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "unknown_recipient"


def test_the_contact_search_page_ignores_nul_bytes(operator, make_contact):
    make_contact("Ann", email="ann@example.com")
    client = Client()
    client.force_login(operator)
    response = client.get("/sos/contacts/?q=A%00nn")
    assert response.status_code == 200
    assert "Ann" in response.content.decode()
