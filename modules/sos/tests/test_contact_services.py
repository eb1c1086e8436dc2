"""Contacts and groups change only through contact_update / group_update (and their create
siblings), so the UI, the API and the CSV import apply the same rules. One rule they share:
names are unique whatever their case, since alerts and the CSV import find names that way."""

from __future__ import annotations

import pytest
from django.test import Client

from modules.sos import services
from modules.sos.errors import SosError
from modules.sos.models import Contact, ContactMethod, Group


def test_contact_update_changes_fields_groups_and_adds_methods(make_contact):
    ann = make_contact("Ann", email="ann@example.com", groups=["ops"])
    night = Group.objects.create(name="night")
    services.contact_update(
        contact=ann,
        name="  Ann Lee ",
        notes="pager",
        is_active=False,
        groups=[night],
        methods=[{"kind": "sms", "address": "+1 555 555 0100"}],
    )
    ann.refresh_from_db()
    assert (ann.name, ann.notes, ann.is_active) == ("Ann Lee", "pager", False)
    assert list(ann.groups.values_list("name", flat=True)) == ["night"]
    assert sorted(ann.methods.values_list("address", flat=True)) == [
        "+15555550100",
        "ann@example.com",
    ]


def test_contact_update_leaves_what_it_is_not_given(make_contact):
    ann = make_contact("Ann", email="ann@example.com", groups=["ops"])
    services.contact_update(contact=ann, notes="pager")
    ann.refresh_from_db()
    assert (ann.name, ann.is_active) == ("Ann", True)
    assert list(ann.groups.values_list("name", flat=True)) == ["ops"]


@pytest.mark.parametrize(
    ("name", "message"), [("", "required"), ("x" * 151, "longer than 150"), ("ANN", "already")]
)
def test_contact_names_are_checked_by_the_service(make_contact, name, message):
    make_contact("Ann")
    bob = make_contact("Bob")
    with pytest.raises(SosError, match=message) as caught:
        services.contact_update(contact=bob, name=name)
    assert caught.value.code == "validation_error"
    with pytest.raises(SosError, match=message):
        services.contact_create(name=name)


def test_group_update_renames_and_sets_members(make_contact):
    ann, bob = make_contact("Ann"), make_contact("Bob")
    group = services.group_create(name="ops", members=[ann])
    services.group_update(group=group, name="night ops", description="22-06", members=[bob])
    group.refresh_from_db()
    assert (group.name, group.description) == ("night ops", "22-06")
    assert list(group.members.all()) == [bob]
    with pytest.raises(SosError, match="already"):
        services.group_create(name="NIGHT OPS")
    with pytest.raises(SosError, match="longer than 100"):
        services.group_update(group=group, name="g" * 101)


def test_the_api_refuses_a_contact_name_that_differs_only_in_case(operator_api, make_contact):
    make_contact("Ann")
    bob = make_contact("Bob")
    renamed = operator_api.patch(f"/api/sos/contacts/{bob.pk}/", {"name": "ANN"}, format="json")
    assert renamed.status_code == 400, renamed.content
    assert renamed.json()["error"]["code"] == "validation_error"
    created = operator_api.post("/api/sos/contacts/", {"name": "ann"}, format="json")
    assert created.status_code == 400
    assert sorted(Contact.objects.values_list("name", flat=True)) == ["Ann", "Bob"]


def test_the_api_refuses_a_group_name_that_differs_only_in_case(operator_api, make_contact):
    ann = make_contact("Ann", groups=["ops"])
    other = Group.objects.create(name="night")
    renamed = operator_api.patch(f"/api/sos/groups/{other.pk}/", {"name": "OPS"}, format="json")
    assert renamed.status_code == 400, renamed.content
    created = operator_api.post("/api/sos/groups/", {"name": "Ops"}, format="json")
    assert created.status_code == 400
    moved = operator_api.patch(f"/api/sos/groups/{other.pk}/", {"members": [ann.pk]}, format="json")
    assert moved.status_code == 200
    assert moved.json()["members"] == [ann.pk]


def test_the_contact_page_saves_through_the_service(operator, make_contact):
    make_contact("Ann")
    bob = make_contact("Bob", groups=["ops"])
    client = Client()
    client.force_login(operator)
    path = f"/sos/contacts/{bob.pk}/"
    refused = client.post(path, {"save": "1", "name": "ann", "notes": "", "is_active": "on"})
    assert refused.status_code == 200
    assert "already exists" in refused.content.decode()
    bob.refresh_from_db()
    assert bob.name == "Bob"
    night = Group.objects.create(name="night")
    saved = client.post(
        path, {"save": "1", "name": "Bobby", "notes": "x", "is_active": "on", "groups": [night.pk]}
    )
    assert saved.status_code == 302
    bob.refresh_from_db()
    assert bob.name == "Bobby"
    assert list(bob.groups.all()) == [night]


def test_the_group_page_saves_through_the_service(operator, make_contact):
    ann = make_contact("Ann", groups=["ops"])
    night = Group.objects.create(name="night")
    client = Client()
    client.force_login(operator)
    refused = client.post(f"/sos/groups/{night.pk}/", {"name": "OPS", "description": ""})
    assert refused.status_code == 200
    assert "already exists" in refused.content.decode()
    saved = client.post(
        f"/sos/groups/{night.pk}/", {"name": "night", "description": "", "members": [ann.pk]}
    )
    assert saved.status_code == 302
    assert list(night.members.all()) == [ann]


def test_the_csv_import_adds_methods_through_the_same_service(operator_api, make_contact):
    make_contact("Ann", email="ann@example.com", groups=["ops"])
    response = operator_api.post(
        "/api/sos/contacts/import/",
        {"csv": "name,email,phone,groups\nann,ANN@EXAMPLE.COM,+15555550100,OPS;night\n"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "rows": 1,
        "created": 0,
        "updated": 1,
        "methods_added": 1,
        "groups_created": 1,
    }
    assert ContactMethod.objects.count() == 2
    assert sorted(Group.objects.values_list("name", flat=True)) == ["night", "ops"]
    assert Contact.objects.get().groups.count() == 2
