from __future__ import annotations

from portal.apps import PortalModuleConfig


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
