"""References enrolled before consent records existed: migrated under a "legacy, consent
unknown" subject each, sealed, expiring at the normal retention from their enrolment but not
before a grace period, through the whole chain (schema, data, required fields) with legacy rows
present, which is what PostgreSQL's deferred foreign keys made fail in one migration."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.db.migrations.exceptions import IrreversibleError
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from modules.faces.gallery import cache, crypto, keys
from modules.faces.gallery import services as gallery
from modules.faces.models import Reference, Subject

BEFORE = [("faces", "0002_quality_filter")]
LEGACY = [("faces", "0004_gallery_legacy")]
REQUIRED = [("faces", "0005_gallery_required")]


@pytest.fixture
def migrator(transactional_db):
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("faces")
    yield executor
    executor = MigrationExecutor(connection)
    executor.migrate(latest)
    cache.forget()


def test_legacy_references_become_legacy_subjects_with_sealed_descriptors(migrator, settings):
    settings.FACES_REFERENCE_RETENTION_DAYS = 365
    migrator.migrate(BEFORE)
    old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
    descriptor = np.linspace(-0.2, 0.2, 128).astype("<f8").tobytes()
    enrolled = timezone.now() - timedelta(days=10)
    Reference = old.get_model("faces", "Reference")
    legacy = Reference.objects.create(name="Ada", descriptor=descriptor, created_at=enrolled)
    long_ago = timezone.now() - timedelta(days=400)
    old_one = Reference.objects.create(name="Bob", descriptor=descriptor, created_at=long_ago)

    executor = MigrationExecutor(connection)
    executor.migrate(REQUIRED)
    apps = executor.loader.project_state(REQUIRED).apps
    reference = apps.get_model("faces", "Reference").objects.get(pk=legacy.pk)
    graced = apps.get_model("faces", "Reference").objects.get(pk=old_one.pk)
    consent = apps.get_model("faces", "Consent").objects.get(subject_id=reference.subject_id)
    wrapped = apps.get_model("faces", "SubjectKey").objects.get(subject_id=reference.subject_id)

    assert consent.legal_basis == "legacy_unknown"
    assert reference.expires_at == enrolled + timedelta(days=365)
    # Past its retention already: kept for the grace period, not destroyed at the next prune.
    assert graced.expires_at > timezone.now() + timedelta(days=29)
    assert graced.subject_id != reference.subject_id
    assert bytes(reference.descriptor) != descriptor
    key = crypto.unwrap_key(keys.master_key(), bytes(wrapped.wrapped), reference.subject_id)
    aad = crypto.reference_aad(str(reference.uid), reference.subject_id)
    assert crypto.open_sealed(key, bytes(reference.descriptor), aad) == descriptor

    # Found by a search; but no more faces for a subject whose consent is unknown.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("faces"))
    cache.forget()
    query = np.frombuffer(descriptor, dtype="<f8")
    assert gallery.gallery_search(descriptor=query, k=1, threshold=0.6).hits[0].hit.distance == 0
    with pytest.raises(gallery.ConsentRequired):
        gallery.reference_enroll(image=b"", subject=Subject.objects.get(name="Ada"))


def test_sealed_references_cannot_be_migrated_back(migrator):
    subject = Subject.objects.create(name="Ada")
    Reference.objects.create(
        subject=subject, name="Ada", descriptor=b"sealed", expires_at=timezone.now()
    )
    with pytest.raises(IrreversibleError):
        migrator.migrate(BEFORE)
    assert Reference.objects.filter(subject=subject).exists()
