"""Workflows of Face_Comparison: keyword-only functions named <thing>_<action>.

The web views, the API and the management commands all call these, so they never disagree.
dlib loads on the first call that needs it (never at import).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from django.conf import settings
from django.core.files.base import ContentFile
from django.db.models import Q
from django.utils import timezone

from modules.faces import models
from modules.faces.engine import (
    CompareOptions,
    FaceAnalysis,
    FaceEngine,
    ImageError,
    LoadedImage,
    compare_analyses,
)
from modules.faces.engine import Comparison as ComparisonResult

logger = logging.getLogger("modules.faces")

ImageSource = bytes | BinaryIO
_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp"}


def face_engine(*, num_jitters: int = 0) -> FaceEngine:
    """An engine for the current FACES_* settings. Cheap: the dlib models it uses are loaded
    once per process and shared (``engine.dlib_models``); ``num_jitters`` > 1 (dlib's, used by
    ``faces_evaluate --jitters``) gives the engine its own copy."""
    return FaceEngine(
        detect_max_side=settings.FACES_DETECT_MAX_SIDE,
        min_face_size=settings.FACES_MIN_FACE_SIZE,
        max_bytes=settings.FACES_MAX_IMAGE_BYTES,
        max_pixels=settings.FACES_MAX_PIXELS,
        num_jitters=num_jitters,
    )


def _options(
    threshold: float | None, pick: str = "largest", quality_filter: str = "NONE"
) -> CompareOptions:
    threshold = settings.FACES_THRESHOLD if threshold is None else float(threshold)
    return CompareOptions(
        threshold=threshold,
        pick=pick,  # type: ignore[arg-type]
        quality_filter=quality_filter,  # type: ignore[arg-type]
    )


def user_or_none(user: Any) -> Any:
    return user if user is not None and getattr(user, "is_authenticated", False) else None


# -- 1:1 comparison ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparisonRun:
    """A comparison's result, its log row and the two decoded photos (for previews).

    Unpacks as ``result, log = faces_compare(...)``.
    """

    result: ComparisonResult
    log: models.Comparison
    images: tuple[LoadedImage, LoadedImage]

    def __iter__(self) -> Iterator[Any]:
        return iter((self.result, self.log))


def faces_compare(
    *,
    image_a: ImageSource,
    image_b: ImageSource,
    threshold: float | None = None,
    pick: str = "largest",
    quality_filter: str = "NONE",
    user: Any = None,
    source: str = models.Comparison.Source.API,
) -> ComparisonRun:
    """Same person or not. Every call is logged (metadata only); photos are stored only when
    FACES_STORE_IMAGES is on. Raises ImageError subclasses tagged "a" or "b" (logged too),
    LowQualityError when no face of a photo passes ``quality_filter``."""
    options = _options(threshold, pick, quality_filter)
    engine = face_engine()
    engine.load()  # missing models are the answer before any image is read
    log = models.Comparison(
        user=user_or_none(user),
        source=source,
        threshold=options.threshold,
        pick=options.pick,
        quality_filter=options.quality_filter.value,
    )
    analyses: list[FaceAnalysis] = []
    try:
        # The steps of engine.compare() one by one: the previews and the stored copies need the
        # decoded photos, and a failed comparison's log row the faces found so far.
        loaded_a = engine.read(image_a, which="a")
        analyses.append(engine.analyze(loaded_a, which="a"))
        loaded_b = engine.read(image_b, which="b")
        analyses.append(engine.analyze(loaded_b, which="b"))
        result = compare_analyses(analyses[0], analyses[1], options)
    except ImageError as exc:
        log.verdict = models.Comparison.Verdict.ERROR
        log.error_code = exc.code
        log.error_which = (exc.which or "")[:1]
        for analysis in analyses:
            setattr(log, f"faces_{analysis.which}", len(analysis.faces))
        log.save()
        raise
    log.verdict = (
        models.Comparison.Verdict.MATCH if result.match else models.Comparison.Verdict.NO_MATCH
    )
    log.distance = result.distance
    log.similarity = result.similarity
    log.faces_a = len(result.faces_a)
    log.faces_b = len(result.faces_b)
    log.warnings = [{"code": w.code, "which": w.which} for w in result.warnings]
    log.timings_ms = result.timings_ms.to_dict()
    stored = _store_photos(
        log, ((log.image_a, image_a, loaded_a), (log.image_b, image_b, loaded_b))
    )
    try:
        log.save()
    except Exception:
        _forget(stored)
        raise
    return ComparisonRun(result=result, log=log, images=(loaded_a, loaded_b))


def _store_photos(log: models.Comparison, photos: Any) -> list[Any]:
    """Save the uploaded bytes as they came (not re-encoded) through the default storage,
    when FACES_STORE_IMAGES is on. A storage failure costs the copy, not the answer."""
    if not settings.FACES_STORE_IMAGES:
        return []
    stored = []
    try:
        for field, source, loaded in photos:
            if isinstance(source, bytes | bytearray | memoryview):
                content = ContentFile(bytes(source))
            else:
                source.seek(0)
                content = ContentFile(source.read(loaded.byte_size + 1))
            field.save(f"photo{_EXTENSIONS.get(loaded.format, '.bin')}", content, save=False)
            stored.append(field)
    except Exception:
        logger.exception("Could not store the photos of a comparison; it is logged without them")
        _forget(stored)
        log.image_a = log.image_b = ""
        return []
    return stored


def _forget(fields: list[Any]) -> None:
    for field in fields:
        field.storage.delete(field.name)


# The reference gallery (1:N) lives in modules.faces.gallery.services.


# -- retention --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PruneResult:
    comparisons: int
    files: int
    cutoff: datetime


def comparisons_prune(*, days: int | None = None, dry_run: bool = False) -> PruneResult:
    """Delete stored comparison photos older than FACES_RETENTION_DAYS (the metadata stays)."""
    days = settings.FACES_RETENTION_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    stale = models.Comparison.objects.filter(created_at__lt=cutoff).filter(
        ~Q(image_a="") | ~Q(image_b="")
    )
    comparisons = files = 0
    for log in stale.iterator():
        comparisons += 1
        for field in (log.image_a, log.image_b):
            if field:
                files += 1
                if not dry_run:
                    field.storage.delete(field.name)
        if not dry_run:
            models.Comparison.objects.filter(pk=log.pk).update(image_a="", image_b="")
    return PruneResult(comparisons=comparisons, files=files, cutoff=cutoff)
