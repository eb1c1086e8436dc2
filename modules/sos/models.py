"""Contacts, groups, alerts, one delivery row per (alert, contact method), and the event log.

A Delivery is the durable unit of work: the dispatcher claims due rows with a lease, sends, and
writes the outcome back only while it still holds that lease.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from modules.sos.querysets import AlertQuerySet, DeliveryQuerySet


def new_secret() -> str:
    return secrets.token_hex(32)


class Kind(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    WEBHOOK = "webhook", "Webhook"
    APPRISE = "apprise", "Chat / push (Apprise)"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


# Lower sends first: a critical alert overtakes an info one in the queue.
PRIORITY = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


def osm_url(lat: float, lon: float) -> str:
    """The OpenStreetMap page with a marker at (lat, lon)."""
    return (
        f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=16/{lat:.6f}/{lon:.6f}"
    )


def masked_address(kind: str, address: str) -> str:
    """What viewers see of an address.

    Webhook URLs carry tokens in their path or query: only where they go is shown. Apprise URLs
    often carry the credential in the host part itself (tgram://BOT_ID:TOKEN/..., pover://USER@
    TOKEN): only the scheme is shown.
    """
    scheme, sep, rest = address.partition("://")
    if kind == Kind.APPRISE:
        return f"{scheme.lower()}://…" if sep else "…"
    if kind == Kind.WEBHOOK:
        host = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
        return f"{scheme}://{host}/…" if rest else address
    return address


def operator_address(kind: str, address: str) -> str:
    """What operators see in the API and the UI: everything but Apprise URLs, which only staff
    read, in the admin."""
    return masked_address(kind, address) if kind == Kind.APPRISE else address


class Contact(models.Model):
    name = models.CharField(max_length=150, unique=True)
    notes = models.TextField(blank=True)
    is_active = models.BooleanField(default=True, help_text="Inactive contacts receive nothing.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ContactMethod(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="methods")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    address = models.CharField(
        max_length=2000, help_text="Email address, E.164 phone number, webhook or Apprise URL."
    )
    label = models.CharField(max_length=100, blank=True)
    secret = models.CharField(
        max_length=128, default=new_secret, help_text="HMAC-SHA256 key of webhook signatures."
    )
    is_enabled = models.BooleanField(default=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["contact__name", "kind", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "kind", "address"], name="sos_method_unique_per_contact"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.display_address}"

    @property
    def opted_out_at(self) -> datetime | None:
        """When this SMS number texted STOP (None: it may be sent to). Kept per number, not
        per method (SmsOptOut): a new method, contact or import of the number stays opted
        out, and editing the address does not carry the opt-out to another number."""
        if self.kind != Kind.SMS or not self.address:
            return None
        return (
            SmsOptOut.objects.filter(number=self.address)
            .values_list("opted_out_at", flat=True)
            .first()
        )

    @property
    def display_address(self) -> str:
        return masked_address(self.kind, self.address)

    @property
    def operator_address(self) -> str:
        return operator_address(self.kind, self.address)


class Group(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    members = models.ManyToManyField(Contact, related_name="groups", blank=True)
    escalation_policy = models.ForeignKey(
        "sos.EscalationPolicy",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="groups",
        help_text="Used by alerts to this group that name no policy.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Alert(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CANCELLED = "cancelled", "Cancelled"
        RESOLVED = "resolved", "Resolved"

    message = models.TextField(max_length=2000)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.CRITICAL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    accuracy_m = models.FloatField(null=True, blank=True)
    channels = models.JSONField(default=list, blank=True, help_text="Kinds used; empty: all.")
    groups = models.ManyToManyField(Group, related_name="alerts", blank=True)
    is_test = models.BooleanField(default=False)
    source = models.CharField(max_length=40, default="api")
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    dedup_key = models.CharField(max_length=200, blank=True, db_index=True)
    dedup_count = models.PositiveIntegerField(default=0)
    idempotency_scope = models.CharField(max_length=80, blank=True, help_text="user:<id> or source")
    idempotency_key = models.CharField(max_length=200, blank=True)
    idempotency_fingerprint = models.CharField(max_length=64, blank=True)
    require_ack = models.BooleanField(default=False)
    reminder_interval_min = models.PositiveIntegerField(default=0)
    reminder_max = models.PositiveIntegerField(default=0)
    reminders_sent = models.PositiveIntegerField(default=0)
    next_reminder_at = models.DateTimeField(null=True, blank=True, db_index=True)
    escalate_to = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.SET_NULL, related_name="escalations"
    )
    escalated_at = models.DateTimeField(null=True, blank=True)
    # Escalation policy progress (outbox/escalation.py): the wave of step `escalation_step`
    # due at next_escalation_at; whoever moves it off that slot runs the wave.
    escalation_policy = models.ForeignKey(
        "sos.EscalationPolicy", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    escalation_status = models.CharField(max_length=12, blank=True, default="")
    escalation_step = models.PositiveSmallIntegerField(default=0)
    escalation_waves = models.PositiveSmallIntegerField(default=0)
    next_escalation_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_scope", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="sos_alert_idempotency_per_scope",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_severity_display()}: {self.message[:60]}"

    @property
    def has_location(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    @property
    def osm_url(self) -> str:
        if self.latitude is None or self.longitude is None:
            return ""
        return osm_url(self.latitude, self.longitude)


class Delivery(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"

    class Answer(models.TextChoices):
        RECEIVED = "received", "Received"
        SAFE = "safe", "I am safe"
        NEED_HELP = "need_help", "I need help"
        # Answers to an incident (a monitor or an integration raised it), not a safety check.
        ON_IT = "on_it", "On it"
        CANT_HELP = "cant_help", "Can't help"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    method = models.ForeignKey(
        ContactMethod, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    # Snapshots: the history stays readable after a contact or method is edited or deleted.
    contact_name = models.CharField(max_length=150)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    address = models.CharField(max_length=2000)
    priority = models.PositiveSmallIntegerField(default=0)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    round = models.PositiveIntegerField(default=0, help_text="0: first send; n: reminder n.")
    escalation = models.BooleanField(default=False)
    step = models.PositiveSmallIntegerField(
        default=0, help_text="The escalation step that last queued it; 0: the alert's own send."
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=300, blank=True)
    last_error = models.TextField(blank=True)
    answer = models.CharField(max_length=16, choices=Answer.choices, blank=True)
    # The recipient's latest answer and what came with it; `answer` keeps the first one given
    # while the alert was open (modules/sos/acks.py). The roll-call reads these.
    last_answer = models.CharField(max_length=16, choices=Answer.choices, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    answer_via = models.CharField(max_length=10, blank=True, help_text="link, sms or email")
    answer_note = models.CharField(max_length=500, blank=True)
    answer_latitude = models.FloatField(null=True, blank=True)
    answer_longitude = models.FloatField(null=True, blank=True)
    answer_accuracy_m = models.FloatField(null=True, blank=True)
    answered_late = models.BooleanField(
        default=False, help_text="The latest answer came after the alert was closed."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="Failed or cancelled.")

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["alert_id", "contact_name", "kind", "id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["alert", "method"], name="sos_one_delivery_per_method")
        ]
        indexes = [
            # The claim walks this index in order (state, priority, due time) and stops at LIMIT.
            models.Index(fields=["state", "priority", "next_attempt_at"], name="sos_delivery_due"),
            models.Index(fields=["state", "lease_until"], name="sos_delivery_lease"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.contact_name} ({self.state})"

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def display_address(self) -> str:
        return masked_address(self.kind, self.address)

    @property
    def operator_address(self) -> str:
        return operator_address(self.kind, self.address)


FINAL_STATES = frozenset(
    {
        Delivery.State.SENT,
        Delivery.State.FAILED,
        Delivery.State.CANCELLED,
        Delivery.State.ACKNOWLEDGED,
    }
)


class AlertEvent(models.Model):
    """Append-only audit trail: raised, every attempt, state changes, answers, cancel."""

    class Kind(models.TextChoices):
        RAISED = "raised", "Raised"
        DEDUPLICATED = "deduplicated", "Deduplicated"
        ATTEMPT = "attempt", "Attempt"
        LEASE_EXPIRED = "lease_expired", "Lease expired"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        ANSWERED_AGAIN = "answered_again", "Answered again"
        LATE_ANSWER = "late_answer", "Answered after the end"
        REMINDER = "reminder", "Reminder"
        ESCALATED = "escalated", "Escalated"
        CANCELLED = "cancelled", "Cancelled"
        RESOLVED = "resolved", "Resolved"
        RETRIED = "retried", "Retried by an operator"
        REPLY = "reply", "Reply received"  # two-way replies: an inbound SMS or email

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    delivery = models.ForeignKey(
        Delivery, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on alert #{self.alert_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("The alert event log is append-only")
        super().save(*args, **kwargs)


class SmsOptOut(models.Model):
    """A number that texted STOP (carriers' opt-out rules): nothing is sent to it until it
    texts START, whichever contact method holds it. Written by inbound/replies.py."""

    number = models.CharField(max_length=32, unique=True)  # E.164, as ContactMethod.address
    opted_out_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.number} opted out {self.opted_out_at:%Y-%m-%d %H:%M}"


class InboundMessage(models.Model):
    """One inbound SMS or email reply, applied once: providers redeliver (SNS retries), and the
    same (provider, message_id) is recognised and not applied again."""

    provider = models.CharField(max_length=16)  # sns-sms, ses, twilio
    message_id = models.CharField(max_length=200)
    sender = models.CharField(max_length=320, blank=True)
    body = models.CharField(max_length=1000, blank=True)
    outcome = models.CharField(max_length=40, blank=True)
    alert = models.ForeignKey(
        Alert, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    delivery = models.ForeignKey(
        Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "message_id"], name="sos_inbound_once_per_provider"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.message_id} ({self.outcome})"


# Escalation policies live in their own file.
from modules.sos.escalation_models import (  # noqa: E402, F401
    EscalationPolicy,
    EscalationStatus,
    EscalationStep,
    StopRule,
)

# Events API v2 integrations (PagerDuty-compatible intake) live in their own file.
from modules.sos.integration_models import Integration, IntegrationAlert  # noqa: E402, F401
