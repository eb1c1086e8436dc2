"""A gallery's life past enrolment: consent recorded later for a legacy subject, the admin's
consent rules, what enrolment refuses, the audit of enrolments, erasures and prunes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from modules.faces.models import Consent, GalleryEvent, Reference, Subject
from modules.faces.tests.test_consent import enroll, search
from modules.faces.tests.uploads import BIDEN, OBAMA, OBAMA_2
from portal.test import make_user

REFERENCES = "/api/faces/references/"


@pytest.fixture
def admin_client(client, db):
    client.force_login(make_user("ada", role=None, is_staff=True, is_superuser=True))
    return client


def _legacy(reference_id: int, *, expires_in: timedelta) -> Reference:
    """As 0004_gallery_legacy leaves a reference enrolled before consent records existed."""
    reference = Reference.objects.get(pk=reference_id)
    Consent.objects.filter(subject_id=reference.subject_id).delete()
    Consent.objects.create(subject_id=reference.subject_id, legal_basis="legacy_unknown")
    Reference.objects.filter(pk=reference_id).update(expires_at=timezone.now() + expires_in)
    return reference


def _add_consent(admin_client, subject: Subject, **consent: str):
    existing = list(subject.consents.all())
    data = {
        "name": subject.name,
        "external_ref": subject.external_ref,
        "consents-TOTAL_FORMS": str(len(existing) + 1),
        "consents-INITIAL_FORMS": str(len(existing)),
        "consents-MIN_NUM_FORMS": "0",
        "consents-MAX_NUM_FORMS": "1000",
    }
    for i, record in enumerate(existing):
        data[f"consents-{i}-id"] = str(record.pk)
        data[f"consents-{i}-subject"] = str(subject.pk)
    new = len(existing)
    data[f"consents-{new}-subject"] = str(subject.pk)
    for field, value in consent.items():
        data[f"consents-{new}-{field}"] = value
    return admin_client.post(f"/admin/faces/subject/{subject.pk}/change/", data)


def test_a_consent_recorded_for_a_legacy_subject_keeps_its_faces_the_full_retention(
    admin_client, operator_api, small_photo, settings
):
    settings.FACES_REFERENCE_RETENTION_DAYS = 100
    obama = enroll(operator_api, small_photo(OBAMA), name="Obama", legal_basis="legal_claims")
    legacy = _legacy(obama.json()["id"], expires_in=timedelta(days=2))
    assert search(operator_api, small_photo(OBAMA_2)).json()["results"]  # the index is loaded
    refused = enroll(operator_api, small_photo(OBAMA_2), subject=legacy.subject_id)

    response = _add_consent(
        admin_client, legacy.subject, legal_basis="explicit_consent", text="I agree."
    )
    renewed = Reference.objects.get(subject_id=legacy.subject_id)
    found = search(operator_api, small_photo(OBAMA_2)).json()["results"]
    more = enroll(operator_api, small_photo(OBAMA_2), subject=legacy.subject_id)

    assert refused.status_code == 400
    assert response.status_code == 302
    assert renewed.uid == legacy.uid  # the same face, sealed as before
    assert renewed.expires_at > timezone.now() + timedelta(days=99)
    assert [hit["reference"]["id"] for hit in found] == [renewed.pk]  # found once, not twice
    assert more.status_code == 201
    assert (
        GalleryEvent.objects.filter(kind="consent", subject_id=legacy.subject_id).get().count == 1
    )


@pytest.mark.parametrize(
    ("consent", "error"),
    [
        ({"legal_basis": "legacy_unknown"}, "legal_basis must be one of"),
        ({"legal_basis": "synthetic"}, "legal_basis must be one of"),
        ({"legal_basis": "explicit_consent", "text": ""}, "needs the consent text"),
    ],
)
def test_the_admin_records_only_consents_an_operator_may_record(admin_client, consent, error):
    from modules.faces.gallery import services as gallery

    subject = gallery.subject_create(name="Ada", legal_basis="legal_claims")

    response = _add_consent(admin_client, subject, **consent)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert subject.consents.count() == 1


def test_the_admin_offers_no_way_to_delete_a_consent_record(admin_client):
    from modules.faces.gallery import services as gallery

    subject = gallery.subject_create(name="Ada", legal_basis="legal_claims")

    page = admin_client.get(f"/admin/faces/subject/{subject.pk}/change/").content.decode()

    assert "consents-0-DELETE" not in page


def test_enrolling_for_a_subject_refuses_a_new_subjects_fields(operator_api, small_photo):
    subject = enroll(operator_api, small_photo(OBAMA), name="Obama", legal_basis="legal_claims")
    subject_id = subject.json()["subject"]

    mixed = enroll(
        operator_api,
        small_photo(OBAMA_2),
        subject=subject_id,
        name="Someone else",
        legal_basis="made_public",
    )

    assert mixed.status_code == 400
    assert mixed.json()["error"]["code"] == "validation_error"
    assert Reference.objects.filter(subject_id=subject_id).count() == 1


def test_a_synthetic_subject_takes_no_real_photo(operator_api, small_photo):
    from modules.faces.gallery import services as gallery

    synthetic = gallery.subject_create(name="Bench 1", legal_basis="synthetic", synthetic=True)

    response = enroll(operator_api, small_photo(OBAMA), subject=synthetic.pk)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert not Reference.objects.filter(subject=synthetic).exists()


def test_enrolments_erasures_and_prunes_are_audited(operator_api, operator, small_photo):
    obama = enroll(operator_api, small_photo(OBAMA), name="Obama", legal_basis="legal_claims")
    biden = enroll(operator_api, small_photo(BIDEN), name="Biden", legal_basis="legal_claims")
    operator_api.delete(f"/api/faces/subjects/{obama.json()['subject']}/")
    Reference.objects.filter(pk=biden.json()["id"]).update(expires_at=timezone.now())
    call_command("faces_prune", stdout=open("/dev/null", "w"))  # noqa: SIM115

    events = [
        (event.kind, event.username, event.subject_id, event.count)
        for event in GalleryEvent.objects.order_by("pk")
    ]

    assert events == [
        ("enroll", operator.username, obama.json()["subject"], 1),
        ("enroll", operator.username, biden.json()["subject"], 1),
        ("erase", operator.username, obama.json()["subject"], 1),
        ("prune", "", None, 1),
    ]


def test_the_gallery_page_counts_only_references_a_search_can_find(
    client, operator, operator_api, small_photo
):
    client.force_login(operator)
    enroll(operator_api, small_photo(OBAMA), name="Obama", legal_basis="legal_claims")
    biden = enroll(operator_api, small_photo(BIDEN), name="Biden", legal_basis="legal_claims")
    Reference.objects.filter(pk=biden.json()["id"]).update(expires_at=timezone.now())

    page = client.get(reverse("faces:references")).content.decode()

    assert 'Gallery <span class="muted small">(1)</span>' in page
    assert "Biden" not in page


def test_a_thumbnail_is_never_cached_and_survives_a_renewal(
    admin_client,
    client,
    viewer,
    operator_api,
    small_photo,
    media_root,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.FACES_STORE_IMAGES = True
    obama = enroll(operator_api, small_photo(OBAMA), name="Obama", legal_basis="legal_claims")
    legacy = _legacy(obama.json()["id"], expires_in=timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        _add_consent(admin_client, legacy.subject, legal_basis="legal_claims")
    renewed = Reference.objects.get(subject_id=legacy.subject_id)
    client.force_login(viewer)

    response = client.get(reverse("faces:thumbnail", args=[renewed.pk]))

    assert renewed.thumbnail.name == legacy.thumbnail.name
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"


def test_faces_prune_keeps_an_old_subject_that_has_a_face(operator_api, small_photo):
    enrolled = enroll(operator_api, small_photo(OBAMA), name="Obama", legal_basis="legal_claims")
    from modules.faces.gallery import services as gallery

    empty = gallery.subject_create(name="Nobody", legal_basis="legal_claims")
    long_ago = timezone.now() - timedelta(days=400)
    Subject.objects.update(created_at=long_ago)

    call_command("faces_prune", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert Subject.objects.filter(pk=enrolled.json()["subject"]).exists()
    assert Reference.objects.filter(pk=enrolled.json()["id"]).exists()
    assert not Subject.objects.filter(pk=empty.pk).exists()
