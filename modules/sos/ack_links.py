"""Signed acknowledgement links: the token in a delivery's link is the recipient's credential."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import NoReverseMatch, reverse

from modules.sos.errors import AckLinkInvalid

ACK_SALT = "modules.sos.ack"


def ack_token(delivery_id: int) -> str:
    return signing.dumps(delivery_id, salt=ACK_SALT, compress=False)


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


def ack_url(delivery_id: int) -> str:
    token = ack_token(delivery_id)
    try:
        path = reverse("sos:ack", args=[token])
    except NoReverseMatch:
        # The UI is not mounted in this deployment (PORTAL_MODULES); the link works where it is.
        path = f"/sos/ack/{token}/"
    return public_base_url() + path
