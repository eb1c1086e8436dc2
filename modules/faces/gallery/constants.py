"""Gallery limits the API's serializers and the views need without loading the gallery's
services (cryptography, Pillow, the index cache)."""

from __future__ import annotations

from modules.faces.models import Consent

SEARCH_MAX_K = 50
# Bases an operator may record; synthetic and legacy are set by the system only.
RECORDABLE_BASES = tuple(
    value
    for value in Consent.LegalBasis.values
    if value not in {Consent.LegalBasis.SYNTHETIC, Consent.LegalBasis.LEGACY_UNKNOWN}
)
