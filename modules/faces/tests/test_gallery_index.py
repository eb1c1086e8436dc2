"""1:N at scale: the cached matrix answers exactly as a brute-force scan, and follows changes
made by any process through the gallery version."""

from __future__ import annotations

import time

import numpy as np
import pytest

from modules.faces.engine.distance import face_distance
from modules.faces.gallery import cache, crypto, keys, synthetic
from modules.faces.gallery import services as gallery
from modules.faces.gallery.index import GalleryIndex
from modules.faces.models import Reference, Subject

NEVER = float("inf")


def brute_force(rows, query, k):
    """The exact per-reference distance, sorted by (distance, id)."""
    measured = sorted((face_distance(vector, query), ref_id) for ref_id, vector, _ in rows)
    return [(ref_id, distance) for distance, ref_id in measured[:k]]


def decrypted_gallery() -> list[tuple[int, np.ndarray, float]]:
    master = keys.master_key()
    rows = []
    for reference in Reference.objects.select_related("subject__key"):
        key = crypto.unwrap_key(master, bytes(reference.subject.key.wrapped), reference.subject_id)
        plain = crypto.open_sealed(
            key,
            bytes(reference.descriptor),
            crypto.reference_aad(str(reference.uid), reference.subject_id),
        )
        rows.append((reference.pk, np.frombuffer(plain, dtype="<f8"), NEVER))
    return rows


@pytest.fixture(autouse=True)
def fresh_process_cache():
    cache.forget()
    yield
    cache.forget()


def test_the_index_returns_the_brute_force_answer_with_ties_broken_by_id():
    rng = np.random.default_rng(7)
    vectors = synthetic.synthetic_descriptors(3000, seed=3)
    vectors[1500:1510] = vectors[42]  # ten exact duplicates of one reference: ties
    vectors[2000] = vectors[7] + 1e-7  # a near tie float32 cannot tell apart
    rows = [(i * 3 + 1, vector, NEVER) for i, vector in enumerate(vectors)]
    index = GalleryIndex.build(rows)
    queries = [vectors[42], vectors[7], *synthetic.synthetic_descriptors(20, seed=11)]
    queries += [vectors[int(i)] + rng.normal(0, 0.05, 128) for i in rng.integers(0, 3000, 20)]

    for query in queries:
        for k in (1, 5, 12, 50):
            found = index.search(query, k=k, threshold=0.6, now=0.0)
            assert [(hit.id, hit.distance) for hit in found] == brute_force(rows, query, k)


def test_the_index_keeps_float64_descriptors_that_float32_would_round():
    vectors = np.random.default_rng(1).normal(0, 0.05, (500, 128))  # not float32 values
    rows = [(i, vector, NEVER) for i, vector in enumerate(vectors)]
    index = GalleryIndex.build(rows)
    query = vectors[10] + 1e-9

    found = index.search(query, k=5, threshold=0.6, now=0.0)

    assert index.exact is not None
    assert [(hit.id, hit.distance) for hit in found] == brute_force(rows, query, 5)


def test_a_search_of_a_synthetic_gallery_matches_the_brute_force_scan(db):
    synthetic.synthetic_enroll(count=2500, seed=5)
    rows = decrypted_gallery()
    queries = synthetic.synthetic_descriptors(5, seed=99)
    queries = [*queries, rows[100][1], rows[2000][1] + 0.01]

    for query in queries:
        result = gallery.gallery_search(descriptor=query, k=10, threshold=0.6)
        assert [(h.reference.pk, h.hit.distance) for h in result.hits] == brute_force(
            rows, query, 10
        )
        assert result.gallery_size == 2500


def test_the_matrix_follows_enrolments_and_erasures_made_elsewhere(db):
    synthetic.synthetic_enroll(count=50, seed=1)
    first = cache.gallery_index()
    assert cache.gallery_index() is first  # unchanged gallery: no reload, one row read

    # Another process enrols: it bumps the version in the database, nothing else links them.
    extra = synthetic.synthetic_descriptors(1, seed=77)
    synthetic.synthetic_enroll(count=1, seed=77, descriptors=extra)
    added = cache.gallery_index()
    new_id = Reference.objects.order_by("-id").values_list("id", flat=True)[0]
    assert added is not first
    assert len(added) == 51
    assert (
        gallery.gallery_search(descriptor=extra[0], k=1, threshold=0.6).hits[0].reference.pk
        == new_id
    )
    assert sorted(added.ids.tolist()) == sorted(
        GalleryIndex.build(decrypted_gallery()).ids.tolist()
    )

    # ... and erases that subject.
    gallery.subject_erase(subject=Subject.objects.get(references__pk=new_id))
    erased = cache.gallery_index()
    assert len(erased) == 50
    assert new_id not in erased.ids.tolist()
    assert (
        gallery.gallery_search(descriptor=extra[0], k=1, threshold=0.6).hits[0].reference.pk
        != new_id
    )


def test_a_reference_past_its_expiry_is_never_returned(db):
    synthetic.synthetic_enroll(count=20, seed=2)
    target = Reference.objects.order_by("id").first()
    query = dict((r[0], r[1]) for r in decrypted_gallery())[target.pk]
    assert (
        gallery.gallery_search(descriptor=query, k=1, threshold=0.6).hits[0].reference.pk
        == target.pk
    )

    index = cache.gallery_index()
    later = target.expires_at.timestamp() + 1
    assert target.pk not in [hit.id for hit in index.search(query, k=20, threshold=0.6, now=later)]
    assert len(index.search(query, k=50, threshold=0.6, now=time.time())) == 20


def test_the_synthetic_gallery_command_enrolls_and_erases_marked_subjects(db):
    from io import StringIO

    from django.core.management import call_command

    from modules.faces.models import Consent

    out = StringIO()
    call_command("faces_synthetic_gallery", "--count", "25", stdout=out)
    enrolled = len(cache.gallery_index())
    call_command("faces_synthetic_gallery", "--erase", stdout=out)

    assert "enrolled 25 synthetic reference(s)" in out.getvalue()
    assert enrolled == 25
    assert "erased 25 synthetic subject(s)" in out.getvalue()
    assert not Subject.objects.exists()
    assert not Consent.objects.exists()
    assert len(cache.gallery_index()) == 0
