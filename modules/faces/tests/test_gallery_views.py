"""The gallery pages: enroll with consent, search (the searched photo shown back), delete,
erase a person; viewers read only."""

from __future__ import annotations

import re

import pytest

from modules.faces.gallery.synthetic import synthetic_enroll
from modules.faces.models import Reference, SearchAudit, Subject
from modules.faces.tests.uploads import BIDEN, DOGS, OBAMA, OBAMA_2, upload

CONSENT = {"legal_basis": "explicit_consent", "consent_text": "I agree to door access."}


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


def enroll(client, name: str, data: bytes, **fields):
    return client.post(
        "/faces/references/enroll/", {"name": name, "image": upload(data), **CONSENT, **fields}
    )


def test_the_gallery_page_enrolls_searches_and_deletes(operator_client, small_photo):
    enrolled = enroll(operator_client, "Barack Obama", small_photo(OBAMA))
    enroll(operator_client, "Joe Biden", small_photo(BIDEN))
    found = operator_client.post(
        "/faces/references/search/", {"image": upload(small_photo(OBAMA_2)), "k": "1"}
    ).content.decode()
    obama = Reference.objects.get(name="Barack Obama")
    deleted = operator_client.post(f"/faces/references/{obama.pk}/delete/", follow=True)

    assert enrolled.status_code == 302
    assert re.search(rf'<ol class="hits">\s*<li data-reference="{obama.pk}">', found)
    assert found.count("<li data-reference=") == 1
    # The searched photo is shown back, from memory, with its face box.
    assert re.search(r'<figure class="photo" data-photo="q">', found)
    assert re.search(r'<image href="data:image/jpeg;base64,[A-Za-z0-9+/=]{100,}"', found)
    assert SearchAudit.objects.get().source == "web"
    assert "Deleted Barack Obama" in deleted.content.decode()
    assert list(Reference.objects.values_list("name", flat=True)) == ["Joe Biden"]


def test_the_gallery_page_refuses_a_face_without_consent(operator_client, small_photo):
    response = operator_client.post(
        "/faces/references/enroll/", {"name": "Barack Obama", "image": upload(small_photo(OBAMA))}
    )

    assert response.status_code == 400
    assert 'data-error-code="consent_required"' in response.content.decode()
    assert not Reference.objects.exists()


def test_the_gallery_page_explains_a_refused_photo(operator_client, small_photo):
    response = enroll(operator_client, "Dogs", small_photo(DOGS))

    assert response.status_code == 422
    assert 'data-error-code="no_face"' in response.content.decode()


def test_the_gallery_page_erases_a_person(operator_client, small_photo):
    enroll(operator_client, "Barack Obama", small_photo(OBAMA))
    subject = Subject.objects.get()

    response = operator_client.post(f"/faces/subjects/{subject.pk}/erase/", follow=True)

    assert "Erased Barack Obama" in response.content.decode()
    assert not Subject.objects.exists()
    assert not Reference.objects.exists()


def test_the_gallery_table_has_no_empty_first_column(viewer_client, settings):
    settings.FACES_STORE_IMAGES = False
    synthetic_enroll(count=1)

    html = viewer_client.get("/faces/references/").content.decode()

    header = re.search(r"<thead><tr>(.*?)</tr></thead>", html).group(1)
    assert header.startswith("<th>Name</th>")
    assert re.search(r'<tr data-reference="\d+">\s*<td>Synthetic', html)


def test_viewers_see_the_gallery_without_forms(viewer_client):
    synthetic_enroll(count=1)

    html = viewer_client.get("/faces/references/").content.decode()
    denied = viewer_client.post("/faces/references/enroll/", {"name": "x"})

    assert "Synthetic 0-0" in html
    assert "Enroll a reference" not in html
    assert "Delete" not in html
    assert "Erase person" not in html
    assert denied.status_code == 403
