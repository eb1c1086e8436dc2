"""Retention: expired references, subjects left without one, old audit entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from modules.faces import models
from modules.faces.gallery import cache
from modules.faces.gallery.events import event_record


@dataclass(frozen=True)
class GalleryPruneResult:
    references: int
    subjects: int
    searches: int
    audit_cutoff: datetime


def gallery_prune(*, now: datetime | None = None, dry_run: bool = False) -> GalleryPruneResult:
    """Destroy references past their expiry (thumbnails too), subjects left without a reference
    once their own retention is over (their keys with them), and search and event audit
    entries older than FACES_AUDIT_RETENTION_DAYS."""
    now = now or timezone.now()
    expired = models.Reference.objects.filter(expires_at__lte=now)
    subject_cutoff = now - timedelta(days=settings.FACES_REFERENCE_RETENTION_DAYS)
    audit_cutoff = now - timedelta(days=settings.FACES_AUDIT_RETENTION_DAYS)
    old_searches = models.SearchAudit.objects.filter(created_at__lt=audit_cutoff)
    if dry_run:
        live = models.Reference.objects.exclude(pk__in=expired.values("pk"))
        return GalleryPruneResult(
            references=expired.count(),
            subjects=_orphans(subject_cutoff, live).count(),
            searches=old_searches.count(),
            audit_cutoff=audit_cutoff,
        )
    with transaction.atomic():
        gone = list(expired.values_list("pk", flat=True))  # ids first, then delete
        # The post_delete signal removes each thumbnail on commit.
        models.Reference.objects.filter(pk__in=gone).delete()
        cache.removed(gone)
        # Locked, then deleted only if still without a reference: an enrolment locks its
        # subject too, so a face enrolled meanwhile is never taken with an "orphan".
        candidates = _orphans(subject_cutoff, models.Reference.objects.all()).select_for_update()
        locked = list(candidates.values_list("pk", flat=True))
        _, deleted = (
            _orphans(subject_cutoff, models.Reference.objects.all()).filter(pk__in=locked).delete()
        )
        subjects = deleted.get(models.Subject._meta.label, 0)
        if gone or subjects:
            cache.bump(removal=True)
            event_record(kind=models.GalleryEvent.Kind.PRUNE, count=len(gone))
    searches = old_searches.count()
    old_searches.delete()
    models.GalleryEvent.objects.filter(created_at__lt=audit_cutoff).delete()
    return GalleryPruneResult(
        references=len(gone), subjects=subjects, searches=searches, audit_cutoff=audit_cutoff
    )


def _orphans(cutoff: datetime, live: models.QuerySet) -> models.QuerySet:
    return models.Subject.objects.filter(created_at__lt=cutoff).exclude(
        pk__in=live.values("subject_id")
    )
