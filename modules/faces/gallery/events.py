"""The gallery's own audit trail besides searches: who enrolled, erased or renewed whom, and
what each prune destroyed. Plain ids: an entry outlives the subject it names."""

from __future__ import annotations

from typing import Any

from modules.faces import models
from modules.faces.services import user_or_none


def event_record(
    *,
    kind: str,
    user: Any = None,
    subject_id: int | None = None,
    reference_id: int | None = None,
    count: int = 1,
) -> models.GalleryEvent:
    user = user_or_none(user)
    return models.GalleryEvent.objects.create(
        kind=kind,
        user=user,
        username=user.get_username() if user else "",
        subject_id=subject_id,
        reference_id=reference_id,
        count=count,
    )
