"""Input a fuzzer found that used to answer 500: each is refused with a stable code."""

from __future__ import annotations

from django.contrib.messages import get_messages

from modules.sos.models import Contact, ContactMethod

HUGE_FIELD = "name,notes\nAnn," + "x" * 140_000 + "\n"  # past csv.field_size_limit()


def test_a_csv_field_past_the_csv_limit_is_csv_invalid(operator_api, db):
    response = operator_api.post(
        "/api/sos/contacts/import/", data=HUGE_FIELD, content_type="text/csv"
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "csv_invalid"
    assert "field larger than field limit" in error["message"]
    assert Contact.objects.count() == 0


def test_the_html_import_reports_a_csv_field_past_the_limit(client, operator, db):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(operator)
    upload = SimpleUploadedFile("contacts.csv", HUGE_FIELD.encode(), content_type="text/csv")
    response = client.post("/sos/contacts/import/", {"file": upload})
    assert response.status_code == 302
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("field larger than field limit" in t for t in texts), texts
    assert Contact.objects.count() == 0


def test_changing_a_method_to_an_address_the_contact_has_is_refused(operator_api, make_contact):
    ann = make_contact("Ann", email="ann@example.com")
    other = ContactMethod.objects.create(contact=ann, kind="email", address="ann.b@example.com")
    for address in ("ann@example.com", "ANN@EXAMPLE.com"):
        response = operator_api.patch(
            f"/api/sos/contact-methods/{other.pk}/", {"address": address}, format="json"
        )
        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] == "invalid_address"
    other.refresh_from_db()
    assert other.address == "ann.b@example.com"


def test_a_method_keeps_its_own_address_on_update(operator_api, make_contact):
    ann = make_contact("Ann", email="ann@example.com")
    method = ann.methods.get()
    response = operator_api.patch(
        f"/api/sos/contact-methods/{method.pk}/",
        {"address": "Ann@example.com", "label": "work"},
        format="json",
    )
    assert response.status_code == 200, response.content
    method.refresh_from_db()
    assert (method.address, method.label) == ("Ann@example.com", "work")
