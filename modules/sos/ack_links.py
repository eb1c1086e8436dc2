"""Signed acknowledgement links: the token in a delivery's link is the recipient's credential."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core import signing
from django.urls import NoReverseMatch, reverse

from modules.sos.errors import AckLinkInvalid

ACK_SALT = "modules.sos.ack"


class _IssuedSigner(signing.TimestampSigner):
    """Signs with a given issue time instead of now.

    A retry must carry the same body as the first attempt (same Idempotency-Key, same
    signature), so the link in it cannot depend on the second it was rendered in.
    """

    def __init__(self, issued_at: datetime, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.issued_at = issued_at

    def timestamp(self) -> str:
        return signing.b62_encode(int(self.issued_at.timestamp()))


def ack_token(delivery_id: int, issued_at: datetime | None = None) -> str:
    """The link's token; `issued_at` (the alert's raise time) starts its validity."""
    if issued_at is None:
        return signing.dumps(delivery_id, salt=ACK_SALT, compress=False)
    return _IssuedSigner(issued_at, salt=ACK_SALT).sign_object(delivery_id, compress=False)


def read_ack_token(token: str) -> int:
    max_age = settings.SOS_ACK_MAX_AGE_DAYS * 86400
    try:
        value = signing.loads(token, salt=ACK_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise AckLinkInvalid("This acknowledgement link has expired.", expired=True) from None
    except signing.BadSignature:
        raise AckLinkInvalid("This acknowledgement link is not valid.") from None
    if not isinstance(value, int):
        raise AckLinkInvalid("This acknowledgement link is not valid.")
    return value


def public_base_url() -> str:
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL
    host = next((h for h in settings.ALLOWED_HOSTS if h and "*" not in h and h[0] != "."), "")
    if settings.DEBUG or not host:
        return "http://127.0.0.1:8000"
    return f"https://{host}"


def ack_url(delivery_id: int, issued_at: datetime | None = None) -> str:
    token = ack_token(delivery_id, issued_at)
    try:
        path = reverse("sos:ack", args=[token])
    except NoReverseMatch:
        # The UI is not mounted in this deployment (PORTAL_MODULES); the link works where it is.
        path = f"/sos/ack/{token}/"
    return public_base_url() + path
