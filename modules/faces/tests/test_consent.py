"""No face without consent; references expire; people can be erased; searches are audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from modules.faces.gallery import crypto, keys
from modules.faces.models import (
    Consent,
    MatchAudit,
    Reference,
    SearchAudit,
    Subject,
    SubjectKey,
)
from modules.faces.tests.uploads import BIDEN, OBAMA, OBAMA_2, upload

REFERENCES = "/api/faces/references/"
SUBJECTS = "/api/faces/subjects/"
SEARCH = "/api/faces/search/"


def enroll(client, data: bytes, **fields):
    return client.post(REFERENCES, {"image": upload(data), **fields}, format="multipart")


def search(client, data: bytes, k: int = 5):
    return client.post(SEARCH, {"image": upload(data), "k": k}, format="multipart")


def raw_row(table: str, key_column: str, pk: int) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE {key_column} = %s", [pk])  # noqa: S608
        return cursor.fetchone()


def test_it_refuses_to_enroll_a_face_without_a_consent_record(operator_api, small_photo):
    no_basis = enroll(operator_api, small_photo(OBAMA), name="Barack Obama")
    no_text = enroll(
        operator_api, small_photo(OBAMA), name="Barack Obama", legal_basis="explicit_consent"
    )
    made_up = enroll(
        operator_api, small_photo(OBAMA), name="Barack Obama", legal_basis="legacy_unknown"
    )

    assert no_basis.status_code == 400
    assert no_basis.json()["error"]["code"] == "consent_required"
    assert no_text.status_code == 400
    assert no_text.json()["error"]["code"] == "consent_required"
    assert no_text.json()["error"]["details"]["fields"] == ["consent_text"]
    assert made_up.status_code == 400  # legacy and synthetic are the system's, not an operator's
    assert not Reference.objects.exists()
    assert not Subject.objects.exists()


def test_it_records_who_gave_consent_on_what_basis_and_when(operator_api, operator, small_photo):
    before = timezone.now()
    response = enroll(
        operator_api,
        small_photo(OBAMA),
        name="Barack Obama",
        external_ref="HR-0044",
        legal_basis="explicit_consent",
        consent_text="I agree that my face template is kept for door access for one year.",
    )

    body = response.json()
    assert response.status_code == 201, body
    consent = Consent.objects.get(subject_id=body["subject"])
    assert consent.legal_basis == "explicit_consent"
    assert consent.text.startswith("I agree")
    assert consent.recorded_by == operator
    assert consent.recorded_at >= before
    assert consent.subject.external_ref == "HR-0044"
    reference = Reference.objects.get(pk=body["id"])
    expected = reference.created_at + timedelta(days=365)
    assert abs((reference.expires_at - expected).total_seconds()) < 1


def test_it_enrolls_more_faces_for_a_subject_recorded_first(operator_api, small_photo):
    subject = operator_api.post(
        SUBJECTS, {"name": "Barack Obama", "legal_basis": "legal_claims"}, format="json"
    ).json()

    first = enroll(operator_api, small_photo(OBAMA), subject=subject["id"])
    second = enroll(operator_api, small_photo(OBAMA_2), subject=subject["id"])
    listed = operator_api.get(f"{SUBJECTS}{subject['id']}/").json()

    assert first.status_code == second.status_code == 201
    assert listed["consents"][0]["legal_basis"] == "legal_claims"
    assert sorted(listed["references"]) == sorted([first.json()["id"], second.json()["id"]])


def test_faces_prune_destroys_expired_references_with_their_subject_and_key(
    operator_api, small_photo, settings
):
    settings.FACES_REFERENCE_RETENTION_DAYS = 30
    obama = enroll(operator_api, small_photo(OBAMA), name="Obama", legal_basis="legal_claims")
    biden = enroll(operator_api, small_photo(BIDEN), name="Biden", legal_basis="legal_claims")
    obama_subject = obama.json()["subject"]
    long_ago = timezone.now() - timedelta(days=31)
    Reference.objects.filter(pk=obama.json()["id"]).update(
        created_at=long_ago, expires_at=long_ago + timedelta(days=30)
    )
    Subject.objects.filter(pk=obama_subject).update(created_at=long_ago)

    found_before = search(operator_api, small_photo(OBAMA_2)).json()["results"]
    call_command("faces_prune", stdout=open("/dev/null", "w"))  # noqa: SIM115
    found_after = search(operator_api, small_photo(OBAMA_2)).json()["results"]

    # Expired is never returned, even before the prune runs.
    assert [hit["reference"]["name"] for hit in found_before] == ["Biden"]
    assert not Reference.objects.filter(pk=obama.json()["id"]).exists()
    assert raw_row("faces_subjectkey", "subject_id", obama_subject) is None
    assert not Subject.objects.filter(pk=obama_subject).exists()
    assert Reference.objects.filter(pk=biden.json()["id"]).exists()
    assert [hit["reference"]["name"] for hit in found_after] == ["Biden"]


def test_erasing_a_subject_leaves_only_older_backups_able_to_open_its_descriptor(
    operator_api, small_photo
):
    obama = enroll(operator_api, small_photo(OBAMA), name="Obama", legal_basis="legal_claims")
    enroll(operator_api, small_photo(BIDEN), name="Biden", legal_basis="legal_claims")
    reference, subject = obama.json()["id"], obama.json()["subject"]
    reference_row = Reference.objects.get(pk=reference)
    # A backup taken before the erasure holds both rows as the database holds them: the sealed
    # descriptor and, in the same database, the subject's wrapped key.
    sealed = bytes(
        raw_row("faces_reference", "id", reference)[_column("faces_reference", "descriptor")]
    )
    wrapped = bytes(
        raw_row("faces_subjectkey", "subject_id", subject)[_column("faces_subjectkey", "wrapped")]
    )
    aad = crypto.reference_aad(str(reference_row.uid), subject)
    master = keys.master_key()

    response = operator_api.delete(f"{SUBJECTS}{subject}/")

    assert response.status_code == 204
    assert raw_row("faces_subjectkey", "subject_id", subject) is None
    assert raw_row("faces_reference", "id", reference) is None
    assert not Consent.objects.filter(subject_id=subject).exists()
    for other in SubjectKey.objects.all():  # no key left in the database opens it
        other_key = crypto.unwrap_key(master, bytes(other.wrapped), other.subject_id)
        with pytest.raises(crypto.Unreadable):
            crypto.open_sealed(other_key, sealed, aad)
    # The older backup still opens with the master key until it ages out (or the master key is
    # rotated and the old one destroyed): why the README asks for a short backup retention.
    old_key = crypto.unwrap_key(master, wrapped, subject)
    assert len(crypto.open_sealed(old_key, sealed, aad)) == 1024
    with pytest.raises(crypto.Unreadable):
        crypto.unwrap_key(crypto.new_key(), wrapped, subject)
    assert [
        h["reference"]["name"] for h in search(operator_api, small_photo(OBAMA_2)).json()["results"]
    ] == ["Biden"]


def _column(table: str, name: str) -> int:
    with connection.cursor() as cursor:
        description = connection.introspection.get_table_description(cursor, table)
    return [column.name for column in description].index(name)


def test_viewers_cannot_erase_or_record_subjects(viewer_api, operator_api, small_photo):
    subject = enroll(
        operator_api, small_photo(OBAMA), name="Obama", legal_basis="legal_claims"
    ).json()["subject"]

    erased = viewer_api.delete(f"{SUBJECTS}{subject}/")
    created = viewer_api.post(SUBJECTS, {"name": "X", "legal_basis": "legal_claims"}, format="json")

    assert [erased.status_code, created.status_code] == [403, 403]
    assert Subject.objects.filter(pk=subject).exists()


def test_every_search_and_every_reference_it_returned_is_audited(operator_api, small_photo):
    obama = enroll(operator_api, small_photo(OBAMA), name="Obama", legal_basis="legal_claims")
    enroll(operator_api, small_photo(BIDEN), name="Biden", legal_basis="legal_claims")

    body = search(operator_api, small_photo(OBAMA_2), k=2).json()

    audit = SearchAudit.objects.get(pk=body["audit"])
    assert audit.username == "olivia"
    assert (audit.k, audit.gallery_size, audit.results, audit.matches) == (2, 2, 2, 1)
    assert audit.query_box["width"] == body["face"]["box"]["width"]
    hits = list(MatchAudit.objects.filter(search=audit))
    assert [hit.reference_id for hit in hits] == [r["reference"]["id"] for r in body["results"]]
    assert hits[0].reference_id == obama.json()["id"]
    assert hits[0].subject_id == obama.json()["subject"]
    assert [round(hit.distance, 4) for hit in hits] == [r["distance"] for r in body["results"]]
    assert [hit.match for hit in hits] == [True, False]


def test_faces_prune_deletes_audit_entries_after_their_own_retention(db, settings):
    settings.FACES_AUDIT_RETENTION_DAYS = 90
    old = SearchAudit.objects.create(k=5, threshold=0.6, gallery_size=1)
    MatchAudit.objects.create(
        search=old, rank=1, reference_id=1, subject_id=1, distance=0.3, match=True
    )
    recent = SearchAudit.objects.create(k=5, threshold=0.6, gallery_size=1)
    SearchAudit.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=91))

    call_command("faces_prune", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert list(SearchAudit.objects.all()) == [recent]
    assert not MatchAudit.objects.exists()
