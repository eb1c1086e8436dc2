"""Searching the gallery: the cached index, the references' rows, and an audit entry for
every search."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from modules.faces import models
from modules.faces.engine import (
    Face,
    FaceAnalysis,
    FaceWarning,
    LoadedImage,
    NoFaceError,
    quality_warnings,
)
from modules.faces.engine.quality import filter_faces
from modules.faces.gallery import cache
from modules.faces.gallery.constants import SEARCH_MAX_K
from modules.faces.gallery.index import IndexHit
from modules.faces.services import face_engine, user_or_none

SEARCH_QUALITY_DEFAULT = "NONE"


@dataclass(frozen=True)
class ReferenceHit:
    reference: models.Reference
    hit: IndexHit


@dataclass(frozen=True)
class SearchOutcome:
    threshold: float
    k: int
    query: FaceAnalysis
    face: Face  # the query face searched for (the largest that passed the filter)
    hits: list[ReferenceHit]
    gallery_size: int
    warnings: list[FaceWarning]
    loaded: LoadedImage  # the query photo, for a preview (never stored)
    audit: models.SearchAudit


def reference_search(
    *,
    image: Any,
    k: int = 5,
    threshold: float | None = None,
    quality_filter: str | None = None,
    user: Any = None,
    source: str = "api",
) -> SearchOutcome:
    """The k references closest to the largest face of the photo, nearest first; audited."""
    threshold = settings.FACES_THRESHOLD if threshold is None else float(threshold)
    if not 1 <= k <= SEARCH_MAX_K:
        raise ValueError(f"k must be between 1 and {SEARCH_MAX_K}")
    quality_filter = quality_filter or SEARCH_QUALITY_DEFAULT
    engine = face_engine()
    loaded = engine.read(image, which="image")
    analysis = engine.analyze(loaded, which="image")
    if not analysis.faces:
        raise NoFaceError("image")
    found = len(analysis.faces)
    analysis = filter_faces(analysis, quality_filter, which="image")
    face = max(analysis.faces, key=lambda f: (f.box.area, f.score))
    warnings = quality_warnings(face)
    if found > 1:
        several = (
            f"The photo shows {found} faces; the largest (face {face.index + 1}) was searched for."
        )
        warnings.insert(0, FaceWarning("several_faces", None, several, face.index))
    result = gallery_search(
        descriptor=face.descriptor,
        k=k,
        threshold=threshold,
        user=user,
        source=source,
        quality_filter=quality_filter,
        faces=found,
        query_box=face.box.to_dict(),
    )
    return SearchOutcome(
        threshold=threshold,
        k=k,
        query=analysis,
        face=face,
        hits=result.hits,
        gallery_size=result.gallery_size,
        warnings=warnings,
        loaded=loaded,
        audit=result.audit,
    )


@dataclass(frozen=True)
class GallerySearch:
    hits: list[ReferenceHit]
    gallery_size: int
    audit: models.SearchAudit


def gallery_search(
    *,
    descriptor: Any,
    k: int,
    threshold: float,
    user: Any = None,
    source: str = "api",
    quality_filter: str = "",
    faces: int = 1,
    query_box: dict[str, int] | None = None,
) -> GallerySearch:
    """The search proper, for a descriptor: the cached index, the references' rows, the audit."""
    index = cache.gallery_index()
    now = time.time()
    found = index.search(descriptor, k=k, threshold=threshold, now=now)
    # Expired references wait for faces_prune in the matrix; they are not part of the gallery.
    size = len(index) if now < index.next_expiry else int((index.expires > now).sum())
    by_id: dict[int, models.Reference] = {}
    if found:  # the k hit rows only, one query; none to read for an empty gallery
        rows = (
            models.Reference.objects.select_related("created_by")
            .filter(pk__in=[h.id for h in found])
            .order_by()  # ranked by the index; the model's ordering would cost a sort
        )
        by_id = {reference.pk: reference for reference in rows}
    hits = [ReferenceHit(by_id[hit.id], hit) for hit in found if hit.id in by_id]
    user = user_or_none(user)
    with transaction.atomic():
        audit = models.SearchAudit.objects.create(
            user=user,
            username=user.get_username() if user else "",
            source=source,
            k=k,
            threshold=threshold,
            quality_filter=quality_filter,
            gallery_size=size,
            faces=faces,
            query_box=query_box or {},
            results=len(hits),
            matches=sum(item.hit.match for item in hits),
        )
        models.MatchAudit.objects.bulk_create(
            models.MatchAudit(
                search=audit,
                rank=rank,
                reference_id=item.reference.pk,
                subject_id=item.reference.subject_id,
                distance=item.hit.distance,
                match=item.hit.match,
            )
            for rank, item in enumerate(hits, start=1)
        )
    return GallerySearch(hits=hits, gallery_size=size, audit=audit)
