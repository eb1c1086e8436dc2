"""What a delivery says: subject, text, HTML, SMS and webhook payload, from templates.

Subjects and bodies live in templates/emails/sos-alert-*.txt|html, the SMS text in
templates/sos/sms.txt; the webhook payload follows templates/sos/webhook-schema.json.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.template.loader import render_to_string

from modules.sos.ack_links import ack_url
from modules.sos.channels.base import Message
from modules.sos.channels.sms import fit_sms, segments
from modules.sos.inbound.keywords import sms_replies_hint
from modules.sos.inbound.mail import reply_to_address
from modules.sos.models import osm_url
from modules.sos.outbox.job import Job

SCHEMA_VERSION = 1


def _context(job: Job, link: str) -> dict[str, Any]:
    location = None
    if job.latitude is not None and job.longitude is not None:
        location = {
            "lat": job.latitude,
            "lon": job.longitude,
            "accuracy_m": job.accuracy_m,
            "osm": osm_url(job.latitude, job.longitude),
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
        "reply_hint": job.kind == "sms" and sms_replies_hint(job.source),  # two-way replies
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
    link = ack_url(job.delivery_id, job.raised_at)
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
        mail_id=job.mail_id,
        reply_to=reply_to_address(job.delivery_id) if job.kind == "email" else "",
    )
