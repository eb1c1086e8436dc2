"""Removals cost other processes one id query, not a decryption of the gallery; the process
that removes rows drops them from its own matrix as soon as the removal commits."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import transaction

from modules.faces.gallery import cache, crypto, synthetic
from modules.faces.gallery import services as gallery
from modules.faces.models import Reference, Subject


@pytest.fixture(autouse=True)
def fresh_process_cache():
    cache.forget()
    yield
    cache.forget()


@pytest.fixture
def decryptions(monkeypatch):
    """The descriptors opened (the real AES-GCM open, counted; subject keys not counted)."""
    opened = []
    real = crypto.open_sealed

    def counting(key, sealed, aad):
        if aad.startswith(b"portal.faces.reference:"):
            opened.append(1)
        return real(key, sealed, aad)

    monkeypatch.setattr(crypto, "open_sealed", counting)
    return opened


def nearest_id(descriptor) -> int:
    return gallery.gallery_search(descriptor=descriptor, k=1, threshold=0.6).hits[0].reference.pk


def test_another_process_erasure_is_masked_out_without_decrypting_the_gallery(db, decryptions):
    synthetic.synthetic_enroll(count=200, seed=4)
    target = synthetic.synthetic_descriptors(1, seed=41)
    synthetic.synthetic_enroll(count=1, seed=41, descriptors=target)
    target_id = Reference.objects.order_by("-id").values_list("id", flat=True)[0]
    assert nearest_id(target[0]) == target_id
    assert len(decryptions) == 201
    before = cache.gallery_index()

    # Another process erases the subject: under the test's transaction no on-commit hook runs,
    # so this process learns of it only through the gallery version, as any other would.
    gallery.subject_erase(subject=Subject.objects.get(references__pk=target_id))
    decryptions.clear()

    after = cache.gallery_index()
    assert len(after) == 200
    assert target_id not in after.ids.tolist()
    assert nearest_id(target[0]) != target_id
    assert decryptions == []
    # The rows that stayed are the same float32 rows, not re-read ones.
    kept = np.isin(before.ids, after.ids)
    assert np.array_equal(before.matrix[kept], after.matrix)


def test_after_a_removal_only_the_newly_added_rows_are_decrypted(db, decryptions):
    synthetic.synthetic_enroll(count=100, seed=6)
    cache.gallery_index()
    first = Reference.objects.order_by("id").first()
    gallery.reference_delete(reference=first)
    extra = synthetic.synthetic_descriptors(3, seed=66)
    synthetic.synthetic_enroll(count=3, seed=66, descriptors=extra)
    decryptions.clear()

    index = cache.gallery_index()

    assert decryptions == [1, 1, 1]
    assert sorted(index.ids.tolist()) == sorted(Reference.objects.values_list("id", flat=True))
    newest = Reference.objects.order_by("-id").values_list("id", flat=True)[:3]
    assert {nearest_id(vector) for vector in extra} == set(newest)


def test_an_erasure_leaves_this_process_matrix_as_soon_as_it_commits(
    db, django_capture_on_commit_callbacks
):
    synthetic.synthetic_enroll(count=30, seed=8)
    cache.gallery_index()
    subject = Subject.objects.order_by("id").first()
    ids = list(subject.references.values_list("id", flat=True))

    with django_capture_on_commit_callbacks(execute=True):
        gallery.subject_erase(subject=subject)

    # The held matrix itself, before any search re-reads the version.
    assert cache._index is not None
    assert not set(ids) & set(cache._index.ids.tolist())
    assert len(cache._index) == 30 - len(ids)


def test_a_rolled_back_deletion_keeps_the_rows(db):
    synthetic.synthetic_enroll(count=10, seed=9)
    cache.gallery_index()
    reference = Reference.objects.order_by("id").first()

    @transaction.atomic
    def delete_then_fail() -> None:
        gallery.reference_delete(reference=Reference.objects.get(pk=reference.pk))
        raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        delete_then_fail()

    assert reference.pk in cache.gallery_index().ids.tolist()
    assert len(cache.gallery_index()) == 10


def test_a_recreated_state_with_the_same_version_is_not_mistaken_for_the_cached_one(db):
    from modules.faces.models import GalleryState

    synthetic.synthetic_enroll(count=3, seed=51)
    before = cache.gallery_index()
    held = cache.state()

    # A restored database / recreated state row: same (version, removals), other references.
    Reference.objects.all().delete()
    GalleryState.objects.all().delete()
    synthetic.synthetic_enroll(count=3, seed=52)
    assert cache.state()[:2] == held[:2]

    after = cache.gallery_index()
    assert set(after.ids.tolist()) == set(Reference.objects.values_list("id", flat=True))
    assert set(after.ids.tolist()).isdisjoint(before.ids.tolist())


def test_a_tampered_row_or_subject_key_is_skipped_and_the_rest_still_searched(db, caplog):
    from modules.faces.models import SubjectKey

    synthetic.synthetic_enroll(count=6, seed=53)
    ids = list(Reference.objects.order_by("id").values_list("id", flat=True))
    moved, other = Reference.objects.filter(pk__in=ids[:2]).order_by("id")
    # A sealed descriptor copied onto another row does not open there.
    Reference.objects.filter(pk=other.pk).update(descriptor=bytes(moved.descriptor))
    broken_key = SubjectKey.objects.get(subject_id=Reference.objects.get(pk=ids[2]).subject_id)
    wrapped = bytearray(bytes(broken_key.wrapped))
    wrapped[-1] ^= 1
    SubjectKey.objects.filter(pk=broken_key.pk).update(wrapped=bytes(wrapped))

    with caplog.at_level("WARNING", logger="modules.faces.gallery.cache"):
        index = cache.gallery_index()
    result = gallery.gallery_search(descriptor=np.zeros(128), k=10, threshold=0.6)

    assert sorted(index.ids.tolist()) == [ids[0], *ids[3:]]
    assert cache.skipped == 2
    assert sorted(hit.reference.pk for hit in result.hits) == [ids[0], *ids[3:]]
    assert f"reference {other.pk}" in caplog.text
    assert f"subject {broken_key.subject_id}" in caplog.text
