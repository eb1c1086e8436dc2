"""Enrolment: one face of a photo, sealed with its subject's key, until its expiry."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from modules.faces import models
from modules.faces.engine import (
    Face,
    FaceWarning,
    ImageError,
    LoadedImage,
    NoFaceError,
    descriptor_to_bytes,
    quality_warnings,
)
from modules.faces.engine.quality import filter_faces
from modules.faces.gallery import cache, crypto
from modules.faces.gallery.events import event_record
from modules.faces.gallery.subjects import (
    ConsentRequired,
    check_consent,
    subject_create,
    subject_key,
)
from modules.faces.services import face_engine, user_or_none
from portal.errors import PortalError

THUMBNAIL_SIDE = 160
ENROLL_QUALITY_DEFAULT = "AUTO"  # as Rekognition's IndexFaces: a poor reference poisons searches


class SeveralFacesError(ImageError):
    """A reference photo must show one face: enrolling the wrong one would poison searches."""

    code = "several_faces"
    status = 422


@dataclass(frozen=True)
class Enrollment:
    reference: models.Reference
    face: Face
    warnings: list[FaceWarning]


def _invalid(message: str, field: str) -> PortalError:
    return PortalError(message, code="validation_error", status=400, details={"fields": [field]})


def reference_enroll(
    *,
    image: Any,
    subject: models.Subject | None = None,
    name: str = "",
    legal_basis: str | None = None,
    consent_text: str = "",
    external_ref: str = "",
    quality_filter: str | None = None,
    user: Any = None,
) -> Enrollment:
    """Enroll a face for ``subject`` (whose consent is on record), or for a new subject made
    from ``name`` and its consent. Only the descriptor, sealed with the subject's key, is kept
    (and a thumbnail when FACES_STORE_IMAGES is on), until FACES_REFERENCE_RETENTION_DAYS."""
    if subject is None:
        check_consent(legal_basis, consent_text, synthetic=False)
        if not name.strip():
            raise ValueError("name must not be empty")
    else:
        if name.strip() or legal_basis or consent_text.strip() or external_ref.strip():
            raise _invalid(
                "Give either an existing subject or a new subject's name and consent, not both.",
                "subject",
            )
        if subject.synthetic:
            raise _invalid("A synthetic subject takes no real photo.", "subject")
        if not subject.consents.exclude(
            legal_basis=models.Consent.LegalBasis.LEGACY_UNKNOWN
        ).exists():
            raise ConsentRequired(
                "This subject has no consent record: record one before enrolling."
            )
    engine = face_engine()
    loaded = engine.read(image, which="image")
    analysis = engine.analyze(loaded, which="image")
    if not analysis.faces:
        raise NoFaceError("image")
    # The quality filter first: a blurred face in the background does not make a photo of
    # one person a group photo.
    analysis = filter_faces(analysis, quality_filter or ENROLL_QUALITY_DEFAULT, which="image")
    if len(analysis.faces) > 1:
        raise SeveralFacesError(
            f"The photo shows {len(analysis.faces)} faces; a reference needs exactly one. "
            "Crop the photo to the person to enroll.",
            which="image",
            faces=len(analysis.faces),
        )
    face = analysis.faces[0]
    stored: tuple[Any, str] | None = None
    try:
        with transaction.atomic():
            if subject is None:
                subject = subject_create(
                    name=name,
                    legal_basis=legal_basis or "",
                    consent_text=consent_text,
                    external_ref=external_ref,
                    user=user,
                )
            # Locked: a prune running now cannot take the subject (and this face) away.
            if not models.Subject.objects.select_for_update().filter(pk=subject.pk).exists():
                raise PortalError(
                    "This subject has been erased.", code="subject_erased", status=409
                )
            reference = new_reference(
                subject=subject,
                descriptor=descriptor_to_bytes(face.descriptor),
                key=subject_key(subject.pk),
                user=user,
            )
            if settings.FACES_STORE_IMAGES:
                reference.thumbnail.save(
                    "face.jpg", ContentFile(_thumbnail(loaded, face)), save=False
                )
                stored = (reference.thumbnail.storage, reference.thumbnail.name)
            reference.added_version = cache.bump(removal=False)
            reference.save()
            event_record(
                kind=models.GalleryEvent.Kind.ENROLL,
                user=user,
                subject_id=subject.pk,
                reference_id=reference.pk,
            )
    except BaseException:
        # Outside the transaction: a failure at commit must not leave the thumbnail behind.
        if stored:
            stored[0].delete(stored[1])
        raise
    return Enrollment(reference=reference, face=face, warnings=quality_warnings(face))


def new_reference(
    *, subject: models.Subject, descriptor: bytes, key: bytes, user: Any = None, now: Any = None
) -> models.Reference:
    """An unsaved reference of ``subject`` with ``descriptor`` sealed by the subject's key."""
    now = now or timezone.now()
    reference = models.Reference(
        subject=subject,
        name=subject.name,
        created_by=user_or_none(user),
        created_at=now,
        expires_at=now + timedelta(days=settings.FACES_REFERENCE_RETENTION_DAYS),
    )
    reference.descriptor = crypto.seal(
        key, descriptor, crypto.reference_aad(str(reference.uid), subject.pk)
    )
    return reference


def _thumbnail(loaded: LoadedImage, face: Face) -> bytes:
    from PIL import Image

    box = face.box
    margin = max(box.width, box.height) // 3
    crop = loaded.image.crop(
        (
            max(0, box.left - margin),
            max(0, box.top - margin),
            min(loaded.width, box.right + margin),
            min(loaded.height, box.bottom + margin),
        )
    )
    crop.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    crop.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def reference_delete(*, reference: models.Reference) -> None:
    """Delete one reference: its sealed descriptor goes with the row, its thumbnail on commit."""
    with transaction.atomic():
        cache.removed([reference.pk])
        reference.delete()
        cache.bump(removal=True)
