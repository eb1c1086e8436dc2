"""The comparison log (metadata only, photos optional) and the reference gallery: subjects,
their consent and keys, references, the gallery version and the search audit."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

logger = logging.getLogger(__name__)


def _comparison_photo_path(instance: Comparison, filename: str) -> str:
    # Never the uploaded file name: it may carry a person's name. The extension is the
    # detected format's, set by the service in `filename`.
    day = timezone.now().strftime("%Y/%m/%d")
    return f"faces/comparisons/{day}/{uuid.uuid4().hex}{filename[filename.rfind('.') :]}"


def _thumbnail_path(instance: Reference, filename: str) -> str:
    return f"faces/references/{uuid.uuid4().hex}.jpg"


class Comparison(models.Model):
    """One comparison someone asked for: who, when, the verdict and how it was reached."""

    class Verdict(models.TextChoices):
        MATCH = "match", "Match"
        NO_MATCH = "no_match", "No match"
        ERROR = "error", "Error"

    class Source(models.TextChoices):
        API = "api", "API"
        WEB = "web", "Web"
        CLI = "cli", "Command line"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="face_comparisons",
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.API)
    verdict = models.CharField(max_length=10, choices=Verdict.choices, db_index=True)
    error_code = models.CharField(max_length=32, blank=True)  # invalid_image, no_face...
    error_which = models.CharField(max_length=1, blank=True)  # "a" or "b"
    distance = models.FloatField(null=True, blank=True)
    similarity = models.FloatField(null=True, blank=True)
    threshold = models.FloatField()
    pick = models.CharField(max_length=10, default="largest")
    quality_filter = models.CharField(max_length=8, default="NONE")  # QualityFilter level asked
    faces_a = models.PositiveSmallIntegerField(null=True, blank=True)
    faces_b = models.PositiveSmallIntegerField(null=True, blank=True)
    warnings = models.JSONField(default=list, blank=True)  # [{"code", "which"}]
    timings_ms = models.JSONField(default=dict, blank=True)  # decode, detect, encode, total
    # Empty unless FACES_STORE_IMAGES was on; `faces_prune` empties them after the retention.
    image_a = models.FileField(upload_to=_comparison_photo_path, blank=True, max_length=200)
    image_b = models.FileField(upload_to=_comparison_photo_path, blank=True, max_length=200)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["verdict", "created_at"])]

    def __str__(self) -> str:
        if self.verdict == self.Verdict.ERROR:
            return f"#{self.pk} error {self.error_code}"
        return f"#{self.pk} {self.get_verdict_display()} at {self.distance:.3f}"

    @property
    def has_images(self) -> bool:
        return bool(self.image_a or self.image_b)

    @property
    def tone(self) -> str:
        return {"match": "ok", "no_match": "down"}.get(self.verdict, "warn")


class Subject(models.Model):
    """A person whose face may be enrolled: only with a consent record (or another legal
    basis) and only until their references expire or they are erased."""

    name = models.CharField(max_length=120, db_index=True)
    external_ref = models.CharField(
        max_length=200, blank=True, db_index=True, help_text="Your reference for this person."
    )
    synthetic = models.BooleanField(default=False, help_text="Made up for tests or benchmarks.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="face_subjects",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class SubjectKey(models.Model):
    """The subject's descriptor key, wrapped by the master key. It lives in the same database
    as the descriptors: deleting this row makes them unreadable in the database and in every
    backup taken afterwards, but a backup taken before the erasure holds both until it ages
    out (keep backups no longer than you may keep an erased person's data; see README,
    "Gallery")."""

    subject = models.OneToOneField(
        Subject, primary_key=True, on_delete=models.CASCADE, related_name="key"
    )
    wrapped = models.BinaryField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"key of subject {self.subject_id}"


class Consent(models.Model):
    """Why a subject's face may be processed (GDPR art. 9(2); BIPA's written release)."""

    class LegalBasis(models.TextChoices):
        EXPLICIT_CONSENT = "explicit_consent", "Explicit consent (art. 9(2)(a); BIPA release)"
        EMPLOYMENT = "employment", "Employment and social security law (art. 9(2)(b))"
        VITAL_INTERESTS = "vital_interests", "Vital interests (art. 9(2)(c))"
        MADE_PUBLIC = "made_public", "Manifestly made public by the subject (art. 9(2)(e))"
        LEGAL_CLAIMS = "legal_claims", "Legal claims (art. 9(2)(f))"
        PUBLIC_INTEREST = "public_interest", "Substantial public interest (art. 9(2)(g))"
        SYNTHETIC = "synthetic", "Synthetic data (no person)"
        LEGACY_UNKNOWN = "legacy_unknown", "Legacy reference, consent unknown"

    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="consents")
    legal_basis = models.CharField(max_length=20, choices=LegalBasis.choices)
    text = models.TextField(blank=True, help_text="The consent text the subject agreed to.")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="face_consents",
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-recorded_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_legal_basis_display()} ({self.recorded_at:%Y-%m-%d})"


class Reference(models.Model):
    """A face of a subject in the 1:N gallery: its 128-d descriptor sealed with the subject's
    key (and a thumbnail only when FACES_STORE_IMAGES is on), until ``expires_at``."""

    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="references")
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # bound into the AAD
    name = models.CharField(max_length=120, db_index=True)
    # AES-GCM: format byte, 12-byte nonce, 1024 bytes (128 little-endian float64), 16-byte tag.
    descriptor = models.BinaryField(max_length=1100, editable=False)
    thumbnail = models.FileField(upload_to=_thumbnail_path, blank=True, max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="face_references",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(db_index=True)
    # The gallery version that added it: processes extend their cached matrix with the rows
    # added since the version they hold.
    added_version = models.BigIntegerField(default=0, db_index=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class GalleryState(models.Model):
    """One row: ``version`` grows on every gallery change, ``removals`` on every removal. A
    search reads it (one indexed row) to know whether its process's matrix is current."""

    version = models.BigIntegerField(default=0)
    removals = models.BigIntegerField(default=0)
    # Rewritten (random) by every change: (version, removals) can come back to a value a process
    # already holds (a restored database, a recreated row); the generation does not.
    generation = models.CharField(max_length=32, blank=True, default="")
    # Grows with every master key rotation: processes then drop their cached master key.
    key_epoch = models.BigIntegerField(default=0)
    # With FACES_KMS_KEY_ID: the master key as KMS ciphertext (see gallery.keys).
    master_key_wrapped = models.BinaryField(max_length=1024, blank=True, default=b"")

    def __str__(self) -> str:
        return f"gallery version {self.version}"


class SearchAudit(models.Model):
    """Every gallery search: who, when, what was asked and how much was disclosed."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="face_searches",
    )
    username = models.CharField(max_length=150, blank=True)  # who, even once the user is gone
    source = models.CharField(max_length=8, default="api")
    k = models.PositiveSmallIntegerField()
    threshold = models.FloatField()
    quality_filter = models.CharField(max_length=8, blank=True)
    gallery_size = models.PositiveIntegerField()
    faces = models.PositiveSmallIntegerField(default=0)  # faces found in the query photo
    query_box = models.JSONField(default=dict, blank=True)
    results = models.PositiveSmallIntegerField(default=0)
    matches = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"search #{self.pk} by {self.username or '?'}"


class GalleryEvent(models.Model):
    """An enrolment, a consent recorded later, an erasure or a prune: who, when, which subject
    (plain ids, as MatchAudit) and how many references. Pruned with the search audit."""

    class Kind(models.TextChoices):
        ENROLL = "enroll", "Enrolled"
        CONSENT = "consent", "Consent recorded"
        ERASE = "erase", "Erased"
        PRUNE = "prune", "Pruned"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="face_gallery_events",
    )
    username = models.CharField(max_length=150, blank=True)
    subject_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    reference_id = models.BigIntegerField(null=True, blank=True)
    count = models.PositiveIntegerField(default=1)  # references concerned

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.username or 'system'}"


class MatchAudit(models.Model):
    """One reference a search returned. Plain ids, not foreign keys: the entry outlives the
    reference's erasure and names no one by itself."""

    search = models.ForeignKey(SearchAudit, on_delete=models.CASCADE, related_name="hits")
    rank = models.PositiveSmallIntegerField()
    reference_id = models.BigIntegerField(db_index=True)
    subject_id = models.BigIntegerField(db_index=True)
    distance = models.FloatField()
    match = models.BooleanField()

    class Meta:
        ordering = ["search_id", "rank"]

    def __str__(self) -> str:
        return f"#{self.rank} reference {self.reference_id} at {self.distance:.3f}"


def delete_stored_file(field: models.fields.files.FieldFile) -> None:
    """Delete a stored file once the surrounding transaction commits (not if it rolls back).
    Robust: an unreachable storage must not turn a committed erasure into an error page; the
    failure is logged with the file's name so an operator can remove it."""
    if not field:
        return
    storage, name = field.storage, field.name

    def delete() -> None:
        try:
            storage.delete(name)
        except Exception:
            logger.exception("faces: could not delete stored file %s", name)
            raise

    transaction.on_commit(delete, robust=True)


@receiver(post_delete, sender=Comparison)
def _delete_comparison_photos(sender: type, instance: Comparison, **kwargs: Any) -> None:
    delete_stored_file(instance.image_a)
    delete_stored_file(instance.image_b)


@receiver(post_delete, sender=Reference)
def _delete_reference_thumbnail(sender: type, instance: Reference, **kwargs: Any) -> None:
    delete_stored_file(instance.thumbnail)
