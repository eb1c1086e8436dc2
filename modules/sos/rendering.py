"""What a delivery says: signed acknowledgement links and messages rendered from templates.

Subjects and bodies live in templates/emails/sos-alert-*.txt|html, the SMS text in
templates/sos/sms.txt; the webhook payload follows templates/sos/webhook-schema.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse

from modules.sos.channels.base import Message
from modules.sos.channels.sms import fit_sms, segments
from modules.sos.errors import AckLinkInvalid

ACK_SALT = "modules.sos.ack"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Job:
    """One claimed delivery, copied out of the database for a send thread."""

    delivery_id: int
    lease_token: str
    attempt: int
    round: int
    kind: str
    address: str
    secret: str
    contact_name: str
    method_id: int | None
    escalation: bool
    alert_id: int
    message: str
    severity: str
    is_test: bool
    require_ack: bool
    source: str
    raised_at: datetime
    latitude: float | None
    longitude: float | None
    accuracy_m: float | None
    refuse: str = ""  # set when the row must fail without a send (method deleted or disabled)
    lease_until: datetime | None = None  # the send must not start unless the lease covers it

    @property
    def idempotency_key(self) -> str:
        return f"sos-{self.delivery_id}-{self.round}"


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
    except (
        NoReverseMatch
    ):  # the UI is not mounted here (PORTAL_MODULES), the link still works there
        path = f"/sos/ack/{token}/"
    return public_base_url() + path


def _context(job: Job, link: str) -> dict[str, Any]:
    location = None
    if job.latitude is not None and job.longitude is not None:
        location = {
            "lat": job.latitude,
            "lon": job.longitude,
            "accuracy_m": job.accuracy_m,
            "osm": (
                f"https://www.openstreetmap.org/?mlat={job.latitude:.6f}&mlon={job.longitude:.6f}"
                f"#map=16/{job.latitude:.6f}/{job.longitude:.6f}"
            ),
        }
    return {
        "job": job,
        "message": job.message,
        "severity": job.severity,
        "test": job.is_test,
        "reminder": job.round > 0,
        "round": job.round,
        "escalation": job.escalation,
        "require_ack": job.require_ack,
        "contact_name": job.contact_name,
        "location": location,
        "ack_url": link,
        "raised_at": job.raised_at,
        "site_name": settings.SITE_NAME,
    }


def webhook_payload(job: Job, link: str) -> dict[str, Any]:
    location = None
    if job.latitude is not None and job.longitude is not None:
        location = {"lat": job.latitude, "lon": job.longitude, "accuracy_m": job.accuracy_m}
    return {
        "schema": f"portal.sos.alert/{SCHEMA_VERSION}",
        "alert": {
            "id": job.alert_id,
            "message": job.message,
            "severity": job.severity,
            "raised_at": job.raised_at.isoformat(),
            "source": job.source,
            "test": job.is_test,
            "require_ack": job.require_ack,
        },
        "severity": job.severity,
        "location": location,
        "delivery": {
            "id": job.delivery_id,
            "round": job.round,
            "reminder": job.round > 0,
            "escalation": job.escalation,
            "recipient": job.contact_name,
        },
        "ack_url": link,
    }


def _sms(context: dict[str, Any]) -> str:
    max_segments = settings.SOS_SMS_MAX_SEGMENTS
    text = " ".join(render_to_string("sos/sms.txt", context).split())
    message = context["message"]
    # Shorten the alert text, never the link: a cut link cannot be acknowledged.
    while segments(text) > max_segments and len(message) > 20:
        message = message[: max(20, len(message) - max(10, len(message) // 5))].rstrip()
        text = " ".join(
            render_to_string("sos/sms.txt", {**context, "message": message + "..."}).split()
        )
    return fit_sms(text, max_segments)


def render_message(job: Job) -> Message:
    link = ack_url(job.delivery_id)
    context = _context(job, link)
    wordy = job.kind in ("email", "apprise")
    subject = " ".join(render_to_string("emails/sos-alert-subject.txt", context).split())
    return Message(
        idempotency_key=job.idempotency_key,
        subject=subject,
        text=render_to_string("emails/sos-alert-body.txt", context) if wordy else "",
        html=render_to_string("emails/sos-alert-body.html", context) if job.kind == "email" else "",
        sms=_sms(context) if job.kind == "sms" else "",
        payload=webhook_payload(job, link) if job.kind == "webhook" else {},
        severity=job.severity,
        priority=job.severity == "critical",
    )
