"""The reference gallery (1:N): enroll with consent, search the k closest, delete with the
descriptor."""

from __future__ import annotations

import pytest

from modules.faces.gallery import crypto, keys
from modules.faces.models import Reference, SubjectKey
from modules.faces.tests.uploads import (
    BIDEN,
    DOGS,
    OBAMA,
    OBAMA_2,
    OBAMA_AND_BIDEN,
    ROSE,
    files_under,
    upload,
)

REFERENCES = "/api/faces/references/"
SEARCH = "/api/faces/search/"


def enroll(client, name: str, data: bytes, **extra):
    fields = {"name": name, "image": upload(data), "legal_basis": "legal_claims", **extra}
    return client.post(REFERENCES, fields, format="multipart")


@pytest.fixture
def gallery(operator_api, small_photo) -> dict[str, int]:
    ids = {}
    for name, photo in (("Barack Obama", OBAMA), ("Joe Biden", BIDEN), ("Rose Leslie", ROSE)):
        response = enroll(operator_api, name, small_photo(photo))
        assert response.status_code == 201, response.content
        ids[name] = response.json()["id"]
    return ids


def test_enrolls_a_reference_keeping_only_its_descriptor(operator_api, operator, small_photo):
    response = enroll(operator_api, "  Barack Obama ", small_photo(OBAMA))

    body = response.json()
    assert response.status_code == 201
    assert body["name"] == "Barack Obama"
    assert body["created_by"] == "olivia"
    assert body["has_thumbnail"] is False
    assert body["face"]["box"]["width"] > 50
    assert "descriptor" not in body
    reference = Reference.objects.get(pk=body["id"])
    sealed = bytes(reference.descriptor)
    assert len(sealed) == 1 + 12 + 1024 + 16  # format, nonce, 128 float64, tag
    key = crypto.unwrap_key(
        keys.master_key(),
        bytes(SubjectKey.objects.get(pk=reference.subject_id).wrapped),
        reference.subject_id,
    )
    aad = crypto.reference_aad(str(reference.uid), reference.subject_id)
    assert len(crypto.open_sealed(key, sealed, aad)) == 1024
    assert not reference.thumbnail


def test_finds_the_k_closest_references(operator_api, gallery, small_photo):
    response = operator_api.post(
        SEARCH, {"image": upload(small_photo(OBAMA_2)), "k": 2}, format="multipart"
    )

    body = response.json()
    assert response.status_code == 200, body
    assert body["gallery_size"] == 3
    assert body["faces"] == 1
    assert [hit["reference"]["name"] for hit in body["results"]] == ["Barack Obama", "Joe Biden"]
    first, second = body["results"]
    assert first["match"] is True
    assert second["match"] is False
    assert first["distance"] < second["distance"]
    assert first["similarity"] > 50 > second["similarity"]
    assert first["reference"]["id"] == gallery["Barack Obama"]


def test_searches_for_the_largest_face_of_a_group_photo(operator_api, gallery, small_photo):
    body = operator_api.post(
        SEARCH, {"image": upload(small_photo(OBAMA_AND_BIDEN, 1400)), "k": 1}, format="multipart"
    ).json()

    assert body["faces"] >= 2
    assert body["warnings"][0]["code"] == "several_faces"
    assert body["results"][0]["reference"]["name"] == "Barack Obama"


def test_deleting_a_reference_deletes_its_descriptor(operator_api, gallery, small_photo):
    obama = gallery["Barack Obama"]
    descriptor = bytes(Reference.objects.get(pk=obama).descriptor)  # sealed: unique per row

    response = operator_api.delete(f"{REFERENCES}{obama}/")
    search = operator_api.post(
        SEARCH, {"image": upload(small_photo(OBAMA_2)), "k": 5}, format="multipart"
    ).json()

    assert response.status_code == 204
    assert not Reference.objects.filter(pk=obama).exists()
    assert descriptor not in [bytes(r.descriptor) for r in Reference.objects.all()]
    assert [hit["reference"]["name"] for hit in search["results"]] == ["Joe Biden", "Rose Leslie"]
    assert not any(hit["match"] for hit in search["results"])


def test_keeps_a_thumbnail_only_when_enabled_and_deletes_it_with_the_reference(
    operator_api, viewer_api, small_photo, media_root, settings, django_capture_on_commit_callbacks
):
    settings.FACES_STORE_IMAGES = True

    body = enroll(operator_api, "Barack Obama", small_photo(OBAMA)).json()
    thumbnail = viewer_api.get(f"{REFERENCES}{body['id']}/thumbnail/")

    assert body["has_thumbnail"] is True
    assert [path.suffix for path in files_under(media_root)] == [".jpg"]
    assert thumbnail.status_code == 200
    assert b"".join(thumbnail.streaming_content)[:2] == b"\xff\xd8"
    with django_capture_on_commit_callbacks(execute=True):
        assert operator_api.delete(f"{REFERENCES}{body['id']}/").status_code == 204
    assert files_under(media_root) == []


def test_refuses_a_reference_photo_with_several_faces_or_none(operator_api, small_photo):
    several = enroll(operator_api, "Group", small_photo(OBAMA_AND_BIDEN, 1400))
    none = enroll(operator_api, "Dogs", small_photo(DOGS))
    nameless = operator_api.post(
        REFERENCES,
        {"name": "", "image": upload(small_photo(OBAMA)), "legal_basis": "legal_claims"},
        format="multipart",
    )

    assert several.status_code == 422
    assert several.json()["error"]["code"] == "several_faces"
    assert several.json()["error"]["details"]["which"] == "image"
    assert none.status_code == 422
    assert none.json()["error"]["code"] == "no_face"
    assert nameless.status_code == 400
    assert list(nameless.json()["error"]["details"]["fields"]) == ["name"]
    assert not Reference.objects.exists()


def test_viewers_read_the_gallery_but_cannot_change_or_search_it(viewer_api, gallery, small_photo):
    listed = viewer_api.get(REFERENCES)
    one = viewer_api.get(f"{REFERENCES}{gallery['Joe Biden']}/")
    enrolled = enroll(viewer_api, "Someone", small_photo(OBAMA))
    searched = viewer_api.post(SEARCH, {"image": upload(small_photo(OBAMA))}, format="multipart")
    deleted = viewer_api.delete(f"{REFERENCES}{gallery['Joe Biden']}/")

    assert listed.status_code == 200
    assert [r["name"] for r in listed.json()["results"]] == [
        "Barack Obama",
        "Joe Biden",
        "Rose Leslie",
    ]
    assert one.json()["name"] == "Joe Biden"
    assert [enrolled.status_code, searched.status_code, deleted.status_code] == [403, 403, 403]
    assert Reference.objects.count() == 3


def test_search_validates_k(operator_api, small_photo):
    response = operator_api.post(
        SEARCH, {"image": upload(small_photo(OBAMA)), "k": 0}, format="multipart"
    )

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]["fields"]) == ["k"]
