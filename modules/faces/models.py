"""The comparison log (metadata only, photos optional) and the reference gallery."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone


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


class Reference(models.Model):
    """A named face in the 1:N gallery: only its 128-d descriptor (and maybe a thumbnail)."""

    name = models.CharField(max_length=120, db_index=True)
    descriptor = models.BinaryField(max_length=1024, editable=False)  # 128 float64, little-endian
    thumbnail = models.FileField(upload_to=_thumbnail_path, blank=True, max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="face_references",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


def delete_stored_file(field: models.fields.files.FieldFile) -> None:
    """Delete a stored file once the surrounding transaction commits (not if it rolls back)."""
    if not field:
        return
    storage, name = field.storage, field.name
    transaction.on_commit(lambda: storage.delete(name))


@receiver(post_delete, sender=Comparison)
def _delete_comparison_photos(sender: type, instance: Comparison, **kwargs: Any) -> None:
    delete_stored_file(instance.image_a)
    delete_stored_file(instance.image_b)


@receiver(post_delete, sender=Reference)
def _delete_reference_thumbnail(sender: type, instance: Reference, **kwargs: Any) -> None:
    delete_stored_file(instance.thumbnail)
