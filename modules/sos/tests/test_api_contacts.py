"""Contacts, contact methods and groups over the API, with CSV import."""

from __future__ import annotations

from modules.sos.models import Contact, ContactMethod, Group


def test_creates_a_contact_with_methods_and_groups(operator_api, db):
    group = Group.objects.create(name="ops")
    response = operator_api.post(
        "/api/sos/contacts/",
        {
            "name": "Ann",
            "groups": [group.pk],
            "new_methods": [
                {"kind": "email", "address": "Ann@Example.COM"},
                {"kind": "sms", "address": "+1 555 555 0100"},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["groups"] == [group.pk]
    assert sorted(m["address"] for m in body["methods"]) == ["+15555550100", "Ann@example.com"]


def test_methods_can_be_added_with_an_update(operator_api, make_contact):
    ann = make_contact("Ann", email="ann@example.com")
    response = operator_api.patch(
        f"/api/sos/contacts/{ann.pk}/",
        {"notes": "night shift", "new_methods": [{"kind": "sms", "address": "+15555550100"}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert sorted(m["kind"] for m in response.json()["methods"]) == ["email", "sms"]
    assert response.json()["notes"] == "night shift"


def test_an_invalid_address_is_refused_and_nothing_is_created(operator_api, db):
    response = operator_api.post(
        "/api/sos/contacts/",
        {"name": "Ann", "new_methods": [{"kind": "sms", "address": "555-0100"}]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_address"
    assert not Contact.objects.exists()


def test_a_webhook_to_a_forbidden_address_is_refused_with_target_forbidden(
    operator_api, db, settings
):
    contact = Contact.objects.create(name="Bot")
    settings.EGRESS_ALLOWED_NETWORKS = []
    response = operator_api.post(
        "/api/sos/contact-methods/",
        {"contact": contact.pk, "kind": "webhook", "address": "http://127.0.0.1:8080/hook"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "target_forbidden"
    for address in ("http://169.254.169.254/latest/", "http://10.0.0.5/hook", "http://[::1]/"):
        response = operator_api.post(
            "/api/sos/contact-methods/",
            {"contact": contact.pk, "kind": "webhook", "address": address},
            format="json",
        )
        assert response.json()["error"]["code"] == "target_forbidden", address
    assert not ContactMethod.objects.exists()


def test_a_new_webhook_method_shows_its_signing_secret_once(operator_api, db):
    contact = Contact.objects.create(name="Bot")
    created = operator_api.post(
        "/api/sos/contact-methods/",
        {"contact": contact.pk, "kind": "webhook", "address": "http://127.0.0.1:8080/hook"},
        format="json",
    ).json()
    assert len(created["secret"]) == 64
    listed = operator_api.get(f"/api/sos/contact-methods/{created['id']}/").json()
    assert "secret" not in listed
    rotated = operator_api.post(f"/api/sos/contact-methods/{created['id']}/rotate-secret/").json()
    assert rotated["secret"] != created["secret"]


def test_webhooks_created_with_a_contact_show_their_signing_secret_once(operator_api, db):
    created = operator_api.post(
        "/api/sos/contacts/",
        {
            "name": "Bot",
            "new_methods": [
                {"kind": "webhook", "address": "http://127.0.0.1:8080/a"},
                {"kind": "email", "address": "bot@example.com"},
            ],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    methods = {m["kind"]: m for m in created.json()["methods"]}
    hook = ContactMethod.objects.get(kind="webhook")
    assert methods["webhook"]["secret"] == hook.secret
    assert "secret" not in methods["email"]  # only webhooks sign with it

    contact = created.json()["id"]
    again = operator_api.get(f"/api/sos/contacts/{contact}/").content.decode()
    assert hook.secret not in again
    updated = operator_api.patch(
        f"/api/sos/contacts/{contact}/",
        {"new_methods": [{"kind": "webhook", "address": "http://127.0.0.1:8080/b"}]},
        format="json",
    ).json()
    secrets = {m["address"]: m.get("secret") for m in updated["methods"] if m["kind"] == "webhook"}
    assert secrets == {
        "http://127.0.0.1:8080/a": None,  # shown when it was created, not again
        "http://127.0.0.1:8080/b": ContactMethod.objects.get(address__endswith="/b").secret,
    }


def test_only_admins_configure_apprise_methods(operator_api, operator, db):
    contact = Contact.objects.create(name="Chat")
    body = {"contact": contact.pk, "kind": "apprise", "address": "json://127.0.0.1:8080/x"}
    refused = operator_api.post("/api/sos/contact-methods/", body, format="json")
    assert refused.status_code == 403
    operator.is_staff = True
    operator.save()
    assert operator_api.post("/api/sos/contact-methods/", body, format="json").status_code == 201


def test_send_test_creates_a_test_alert_for_one_method(operator_api, make_contact):
    method = make_contact("Ann", email="ann@example.com").methods.get()
    response = operator_api.post(f"/api/sos/contact-methods/{method.pk}/test/")
    assert response.status_code == 201
    assert response.json()["is_test"] is True
    assert response.json()["progress"]["total"] == 1


def test_groups_are_managed_with_member_ids(operator_api, make_contact):
    ann = make_contact("Ann", email="ann@example.com")
    bob = make_contact("Bob", email="bob@example.com")
    created = operator_api.post(
        "/api/sos/groups/", {"name": "ops", "members": [ann.pk]}, format="json"
    ).json()
    assert created["member_count"] == 1
    operator_api.patch(
        f"/api/sos/groups/{created['id']}/", {"members": [ann.pk, bob.pk]}, format="json"
    )
    assert Group.objects.get().members.count() == 2
    duplicate = operator_api.post("/api/sos/groups/", {"name": "ops"}, format="json")
    assert duplicate.status_code == 400


CSV = """name,email,phone,webhook,groups
Ann,ann@example.com,+15555550100,,ops;all
Bob,bob@example.com; bob@work.example.com,,,ops
Cid,,,http://127.0.0.1:9/hook,all
"""


def test_imports_contacts_from_csv_text(operator_api, db):
    response = operator_api.post("/api/sos/contacts/import/", {"csv": CSV}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "rows": 3,
        "created": 3,
        "updated": 0,
        "methods_added": 5,
        "groups_created": 2,
    }
    assert set(Group.objects.get(name="ops").members.values_list("name", flat=True)) == {
        "Ann",
        "Bob",
    }


def test_importing_again_adds_only_what_is_missing(operator_api, db):
    operator_api.post("/api/sos/contacts/import/", {"csv": CSV}, format="json")
    more = "name,email\nAnn,ann@example.com\nAnn B,annb@example.com\n"
    body = operator_api.post("/api/sos/contacts/import/", data=more, content_type="text/csv").json()
    assert body["created"] == 1
    assert body["updated"] == 1
    assert body["methods_added"] == 1


def test_a_csv_file_upload_is_accepted(operator_api, db):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("contacts.csv", CSV.encode(), content_type="text/csv")
    response = operator_api.post("/api/sos/contacts/import/", {"file": upload}, format="multipart")
    assert response.status_code == 200
    assert Contact.objects.count() == 3


def test_one_bad_row_imports_nothing_and_names_every_problem(operator_api, db):
    bad = "name,email,phone\nAnn,ann@example.com,\n,x@example.com,\nCid,not-an-email,12\n"
    response = operator_api.post("/api/sos/contacts/import/", {"csv": bad}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "csv_invalid"
    lines = {e["line"]: e["errors"] for e in error["details"]["lines"]}
    assert set(lines) == {3, 4}
    assert len(lines[4]) == 2
    assert not Contact.objects.exists()


def test_viewers_cannot_change_contacts(viewer_api, db):
    assert viewer_api.get("/api/sos/contacts/").status_code == 200
    assert viewer_api.post("/api/sos/contacts/", {"name": "X"}, format="json").status_code == 403
    assert (
        viewer_api.post("/api/sos/contacts/import/", {"csv": CSV}, format="json").status_code == 403
    )


def test_apprise_urls_are_judged_as_apprise_reads_them(operator_api, operator, db, settings):
    operator.is_staff = True
    operator.save()
    settings.EGRESS_ALLOWED_NETWORKS = []
    contact = Contact.objects.create(name="Chat")

    def add(address: str):
        body = {"contact": contact.pk, "kind": "apprise", "address": address}
        return operator_api.post("/api/sos/contact-methods/", body, format="json")

    private_ntfy = add("ntfy://localhost/alerts")
    assert private_ntfy.status_code == 400
    assert private_ntfy.json()["error"]["code"] == "target_forbidden"
    unknown = add("mailto://user:secret@example.com")
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "invalid_address"
    assert add("ntfy://alerts").status_code == 201
    assert list(ContactMethod.objects.values_list("address", flat=True)) == ["ntfy://alerts"]
