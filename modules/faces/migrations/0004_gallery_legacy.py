"""References enrolled before consent records existed: a migration cannot invent a consent, so
each becomes its own subject under the legal basis "legacy, consent unknown", its descriptor
sealed with that subject's new key. It expires at the normal retention counted from its
enrolment (FACES_REFERENCE_RETENTION_DAYS), but never sooner than LEGACY_GRACE_DAYS after this
migration, so an operator has time to record a real consent (which extends it) or erase the
subject before faces_prune destroys it.

Not reversible while references exist: their descriptors are sealed, and unsealing them back
into the database would undo the point of the migration. An empty gallery migrates back.
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import migrations
from django.db.migrations.exceptions import IrreversibleError
from django.utils import timezone

LEGACY_GRACE_DAYS = 30
LEGACY_TEXT = (
    "Enrolled before consent records existed; no consent is known. Destroyed at its expiry "
    "unless a consent is recorded (which extends it) or the subject is erased first."
)


def legacy_references_under_consent_unknown(apps, schema_editor):
    from modules.faces.gallery import crypto, keys

    Reference = apps.get_model("faces", "Reference")
    Subject = apps.get_model("faces", "Subject")
    SubjectKey = apps.get_model("faces", "SubjectKey")
    Consent = apps.get_model("faces", "Consent")
    GalleryState = apps.get_model("faces", "GalleryState")
    legacy = list(Reference.objects.filter(subject__isnull=True))
    GalleryState.objects.get_or_create(pk=1, defaults={"version": 1 if legacy else 0})
    if not legacy:
        return
    master = keys.master_key()
    retention = timedelta(days=settings.FACES_REFERENCE_RETENTION_DAYS)
    grace_end = timezone.now() + timedelta(days=LEGACY_GRACE_DAYS)
    for reference in legacy:
        subject = Subject.objects.create(
            name=reference.name, external_ref=f"legacy-reference-{reference.pk}"
        )
        Consent.objects.create(subject=subject, legal_basis="legacy_unknown", text=LEGACY_TEXT)
        key = crypto.new_key()
        SubjectKey.objects.create(subject=subject, wrapped=crypto.wrap_key(master, key, subject.pk))
        reference.subject = subject
        reference.uid = uuid.uuid4()
        reference.expires_at = max(reference.created_at + retention, grace_end)
        reference.added_version = 1
        reference.descriptor = crypto.seal(
            key, bytes(reference.descriptor), crypto.reference_aad(str(reference.uid), subject.pk)
        )
        reference.save()


def refuse_with_sealed_references(apps, schema_editor):
    if apps.get_model("faces", "Reference").objects.exists():
        raise IrreversibleError(
            "faces.0004_gallery_legacy cannot be reversed while references exist: their "
            "descriptors are sealed. Erase them first (or restore a backup taken before)."
        )


class Migration(migrations.Migration):
    dependencies = [("faces", "0003_gallery_consent")]

    operations = [
        migrations.RunPython(legacy_references_under_consent_unknown, refuse_with_sealed_references)
    ]
