"""Subjects and their consent: created with a consent record and a fresh data key, a consent
recorded later (which renews a legacy subject's references), erasure."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from modules.faces import models
from modules.faces.gallery import cache, crypto, keys
from modules.faces.gallery.constants import RECORDABLE_BASES
from modules.faces.gallery.events import event_record
from modules.faces.services import user_or_none
from portal.errors import PortalError


class ConsentRequired(PortalError):
    """No reference without a recorded legal basis (BIPA 740 ILCS 14/15(b), GDPR art. 9)."""

    code = "consent_required"
    status = 400


def check_consent(legal_basis: str | None, text: str, *, synthetic: bool) -> None:
    allowed = models.Consent.LegalBasis.values if synthetic else RECORDABLE_BASES
    if not legal_basis:
        raise ConsentRequired(
            "Enrolling a face needs a consent record: give legal_basis (and consent_text for "
            "explicit consent) or the id of a subject whose consent is recorded.",
            details={"fields": ["legal_basis"]},
        )
    if legal_basis not in allowed:
        raise ConsentRequired(
            f"legal_basis must be one of {', '.join(allowed)}.",
            details={"fields": ["legal_basis"]},
        )
    if legal_basis == models.Consent.LegalBasis.EXPLICIT_CONSENT and not text.strip():
        raise ConsentRequired(
            "Explicit consent needs the consent text the subject agreed to (consent_text).",
            details={"fields": ["consent_text"]},
        )


def subject_create(
    *,
    name: str,
    legal_basis: str,
    consent_text: str = "",
    external_ref: str = "",
    user: Any = None,
    synthetic: bool = False,
) -> models.Subject:
    """A subject with its consent record and a fresh data key (wrapped by the master key)."""
    name = name.strip()
    if not name:
        raise ValueError("name must not be empty")
    check_consent(legal_basis, consent_text, synthetic=synthetic)
    master = keys.master_key()
    with transaction.atomic():
        subject = models.Subject.objects.create(
            name=name[:120],
            external_ref=external_ref.strip()[:200],
            synthetic=synthetic,
            created_by=user_or_none(user),
        )
        models.Consent.objects.create(
            subject=subject,
            legal_basis=legal_basis,
            text=consent_text.strip(),
            recorded_by=user_or_none(user),
        )
        models.SubjectKey.objects.create(
            subject=subject, wrapped=crypto.wrap_key(master, crypto.new_key(), subject.pk)
        )
    return subject


def consent_record(
    *, subject: models.Subject, legal_basis: str, text: str = "", user: Any = None
) -> models.Consent:
    """Record a consent for an existing subject. A legacy subject's references (consent
    unknown until now) are then kept for the normal retention from today."""
    check_consent(legal_basis, text, synthetic=subject.synthetic)
    with transaction.atomic():
        models.Subject.objects.select_for_update().filter(pk=subject.pk).get()
        was_legacy = not subject.consents.exclude(
            legal_basis=models.Consent.LegalBasis.LEGACY_UNKNOWN
        ).exists()
        consent = models.Consent.objects.create(
            subject=subject,
            legal_basis=legal_basis,
            text=text.strip(),
            recorded_by=user_or_none(user),
        )
        renewed = _renew_references(subject) if was_legacy else 0
        event_record(
            kind=models.GalleryEvent.Kind.CONSENT, user=user, subject_id=subject.pk, count=renewed
        )
    return consent


def _renew_references(subject: models.Subject) -> int:
    """New expiry for the subject's references. Each process's index holds expiries, and it
    follows only additions and removals: so each reference goes and comes back as a new row
    (same uid and sealed descriptor, so nothing is re-encrypted; its thumbnail moves over)."""
    expires_at = timezone.now() + timedelta(days=settings.FACES_REFERENCE_RETENTION_DAYS)
    old = list(models.Reference.objects.filter(subject=subject).order_by("pk"))
    if not old:
        return 0
    cache.removed(reference.pk for reference in old)
    going = models.Reference.objects.filter(pk__in=[reference.pk for reference in old])
    going.update(thumbnail="")  # the thumbnails live on in the new rows: not deleted on commit
    going.delete()
    version = cache.bump(removal=True)
    models.Reference.objects.bulk_create(
        models.Reference(
            subject=subject,
            uid=reference.uid,
            name=reference.name,
            descriptor=reference.descriptor,
            thumbnail=reference.thumbnail.name,
            created_by_id=reference.created_by_id,
            created_at=reference.created_at,
            expires_at=expires_at,
            added_version=version,
        )
        for reference in old
    )
    return len(old)


def subject_key(subject_id: int) -> bytes:
    found = list(
        models.SubjectKey.objects.filter(subject_id=subject_id).values_list("wrapped", flat=True)
    )
    if not found:
        raise PortalError(
            "This subject has been erased: it has no key.", code="subject_erased", status=409
        )
    return keys.unwrap_subject_key(bytes(found[0]), subject_id)


def subject_erase(*, subject: models.Subject, user: Any = None) -> int:
    """Erase a subject: its key first (the descriptors in the database become unreadable),
    then its references, thumbnails and consent records. Returns how many references went."""
    with transaction.atomic():
        references = list(models.Reference.objects.filter(subject=subject))
        models.SubjectKey.objects.filter(subject=subject).delete()
        cache.removed(reference.pk for reference in references)
        for reference in references:  # the post_delete signal removes each thumbnail on commit
            reference.delete()
        subject_id = subject.pk
        subject.delete()
        cache.bump(removal=True)
        event_record(
            kind=models.GalleryEvent.Kind.ERASE,
            user=user,
            subject_id=subject_id,
            count=len(references),
        )
    return len(references)
