"""Synthetic galleries for benchmarks and tests: made-up descriptors, real subjects and keys."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from modules.faces import models
from modules.faces.gallery import cache, crypto, keys
from modules.faces.gallery.enroll import new_reference

BATCH = 2000
# dlib descriptors have a length near 0.4-0.6; distances between different people ~0.7-1.0.
TYPICAL_LENGTH = 0.5


def synthetic_descriptors(count: int, seed: int = 0) -> Any:
    """``count`` x 128 float64 values that float32 holds exactly, as dlib's are."""
    import numpy as np

    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors *= np.float32(TYPICAL_LENGTH)
    return vectors.astype(np.float64)


def synthetic_enroll(*, count: int, seed: int = 0, descriptors: Any = None) -> int:
    """Bulk-enroll ``count`` synthetic references, one synthetic subject each."""
    from modules.faces.engine import descriptor_to_bytes

    vectors = synthetic_descriptors(count, seed) if descriptors is None else descriptors
    master = keys.master_key()
    created = 0
    for start in range(0, len(vectors), BATCH):
        chunk = vectors[start : start + BATCH]
        now = timezone.now()
        with transaction.atomic():
            subjects = models.Subject.objects.bulk_create(
                models.Subject(name=f"Synthetic {seed}-{start + i}", synthetic=True, created_at=now)
                for i in range(len(chunk))
            )
            models.Consent.objects.bulk_create(
                models.Consent(
                    subject=subject,
                    legal_basis=models.Consent.LegalBasis.SYNTHETIC,
                    text="Synthetic descriptor made for a benchmark; no person.",
                )
                for subject in subjects
            )
            data_keys = [crypto.new_key() for _ in subjects]
            models.SubjectKey.objects.bulk_create(
                models.SubjectKey(subject=subject, wrapped=crypto.wrap_key(master, key, subject.pk))
                for subject, key in zip(subjects, data_keys, strict=True)
            )
            version = cache.bump(removal=False)
            references = []
            for subject, key, vector in zip(subjects, data_keys, chunk, strict=True):
                reference = new_reference(
                    subject=subject, descriptor=descriptor_to_bytes(vector), key=key, now=now
                )
                reference.added_version = version
                references.append(reference)
            models.Reference.objects.bulk_create(references)
        created += len(chunk)
    return created


def synthetic_erase() -> int:
    with transaction.atomic():
        subjects = models.Subject.objects.filter(synthetic=True)
        count = subjects.count()
        models.SubjectKey.objects.filter(subject__in=subjects).delete()
        references = models.Reference.objects.filter(subject__in=subjects)
        cache.removed(references.values_list("id", flat=True))
        references.delete()
        subjects.delete()
        cache.bump(removal=True)
    return count
