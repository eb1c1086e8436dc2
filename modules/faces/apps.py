from __future__ import annotations

from typing import Any

from django.core import checks

from portal.apps import PortalModuleConfig


def check_gallery_key(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from django.conf import settings

    from portal.modules import is_enabled

    if (
        settings.DEBUG
        or not is_enabled("faces")
        or settings.FACES_KMS_KEY_ID
        or settings.FACES_MASTER_KEY
    ):
        return []
    return [
        checks.Warning(
            "The faces gallery has no master key: every gallery call would answer 503 "
            "gallery_key_missing.",
            hint="Set FACES_KMS_KEY_ID (the stage's KMS key, ops/aws/data.yaml) or "
            "FACES_MASTER_KEY (base64 of 32 random bytes).",
            id="faces.W001",
        )
    ]


class FacesConfig(PortalModuleConfig):
    default = True
    name = "modules.faces"
    label = "faces"
    verbose_name = "Face Comparison"
    title = "Face Comparison"
    description = (
        "Are these two photos the same person? dlib 128-d embeddings with distance and boxes."
    )
    card_context = "modules.faces.views.card_context"
    readiness = "modules.faces.engine.dlib_models.readiness"

    def ready(self) -> None:
        checks.register(check_gallery_key, checks.Tags.security, deploy=True)
