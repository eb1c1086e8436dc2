"""The admin shows the comparison log read-only and lets references be found and deleted."""

from __future__ import annotations

import pytest

from modules.faces.models import Comparison, Reference
from portal.test import make_user


@pytest.fixture
def admin_client(client, db):
    client.force_login(make_user("ada", role=None, is_staff=True, is_superuser=True))
    return client


def test_the_comparison_log_is_searchable_by_user_and_read_only(admin_client, operator):
    Comparison.objects.create(user=operator, verdict="match", distance=0.4, threshold=0.6)
    Comparison.objects.create(verdict="error", error_code="no_face", threshold=0.6)

    found = admin_client.get("/admin/faces/comparison/?q=olivia").content.decode()
    errors = admin_client.get("/admin/faces/comparison/?verdict__exact=error").content.decode()

    assert "1 result" in found
    assert "no_face" in errors
    assert admin_client.get("/admin/faces/comparison/add/").status_code == 403


def _reference(name: str) -> Reference:
    from modules.faces.gallery import services as gallery
    from modules.faces.gallery.enroll import new_reference

    subject = gallery.subject_create(name=name, legal_basis="legal_claims")
    reference = new_reference(
        subject=subject, descriptor=bytes(1024), key=gallery.subject_key(subject.pk)
    )
    reference.save()
    return reference


def test_references_are_searchable_by_name_and_deletable(admin_client):
    keep = _reference("Joe Biden")
    gone = _reference("Barack Obama")

    found = admin_client.get("/admin/faces/reference/?q=obama").content.decode()
    response = admin_client.post(
        "/admin/faces/reference/",
        {"action": "delete_selected", "_selected_action": [gone.pk], "post": "yes"},
    )

    assert "Barack Obama" in found
    assert "Joe Biden" not in found
    assert response.status_code == 302
    assert list(Reference.objects.all()) == [keep]


def test_a_subject_is_erased_with_its_key_and_references_by_the_admin_action(admin_client):
    from modules.faces.models import Subject, SubjectKey

    keep = _reference("Joe Biden")
    gone = _reference("Barack Obama")

    response = admin_client.post(
        "/admin/faces/subject/", {"action": "erase", "_selected_action": [gone.subject_id]}
    )

    assert response.status_code == 302
    assert list(Reference.objects.all()) == [keep]
    assert list(Subject.objects.values_list("name", flat=True)) == ["Joe Biden"]
    assert not SubjectKey.objects.filter(subject_id=gone.subject_id).exists()


def test_subjects_show_their_consent_and_searches_are_read_only(admin_client):
    from modules.faces.gallery import services as gallery
    from modules.faces.models import SearchAudit

    reference = _reference("Barack Obama")
    gallery.gallery_search(descriptor=[0.0] * 128, k=1, threshold=0.6)
    audit = SearchAudit.objects.get()

    subject_page = admin_client.get(f"/admin/faces/subject/{reference.subject_id}/change/")
    audit_page = admin_client.get(f"/admin/faces/searchaudit/{audit.pk}/change/")

    assert subject_page.status_code == 200
    assert "Legal claims (art. 9(2)(f))" in subject_page.content.decode()
    assert audit_page.status_code == 200
    assert str(reference.pk) in audit_page.content.decode()
    assert admin_client.get("/admin/faces/searchaudit/add/").status_code == 403
