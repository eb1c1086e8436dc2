"""Gallery workflows, one module per idea: ``subjects`` (consent, erasure), ``enroll``,
``search`` (audited), ``retention``. The API, the web views, the admin and the management
commands call them through this module; dlib loads on the first call that needs it."""

from __future__ import annotations

from modules.faces.gallery.constants import RECORDABLE_BASES, SEARCH_MAX_K
from modules.faces.gallery.enroll import (
    ENROLL_QUALITY_DEFAULT,
    Enrollment,
    SeveralFacesError,
    new_reference,
    reference_delete,
    reference_enroll,
)
from modules.faces.gallery.retention import GalleryPruneResult, gallery_prune
from modules.faces.gallery.search import (
    SEARCH_QUALITY_DEFAULT,
    GallerySearch,
    ReferenceHit,
    SearchOutcome,
    gallery_search,
    reference_search,
)
from modules.faces.gallery.subjects import (
    ConsentRequired,
    check_consent,
    consent_record,
    subject_create,
    subject_erase,
    subject_key,
)

__all__ = [
    "ENROLL_QUALITY_DEFAULT",
    "RECORDABLE_BASES",
    "SEARCH_MAX_K",
    "SEARCH_QUALITY_DEFAULT",
    "ConsentRequired",
    "Enrollment",
    "GalleryPruneResult",
    "GallerySearch",
    "ReferenceHit",
    "SearchOutcome",
    "SeveralFacesError",
    "check_consent",
    "consent_record",
    "gallery_prune",
    "gallery_search",
    "new_reference",
    "reference_delete",
    "reference_enroll",
    "reference_search",
    "subject_create",
    "subject_erase",
    "subject_key",
]
