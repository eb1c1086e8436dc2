"""Events API v2 integrations: a routing key that monitoring tools (Alertmanager, Uptime Kuma,
anything that speaks PagerDuty's Events API v2) post events with, and which alert each key's
dedup_key currently stands for.

Imported at the bottom of models.py, so Django sees these models as part of the sos app.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models

# PagerDuty severities -> ours: there is no "error" here, and an error pages like a critical.
DEFAULT_SEVERITY_MAP = {
    "critical": "critical",
    "error": "critical",
    "warning": "warning",
    "info": "info",
}
DEFAULT_MESSAGE_TEMPLATE = "{{ summary }}{% if source %} ({{ source }}){% endif %}"
# "pagerduty:" + the name fits Alert.source (40 characters), which names where an alert came from.
SOURCE_PREFIX = "pagerduty:"
NAME_MAX = 30


def new_routing_key() -> str:
    """32 characters, like a PagerDuty integration key, and 128 random bits."""
    return secrets.token_hex(16)


def default_severity_map() -> dict[str, str]:
    return dict(DEFAULT_SEVERITY_MAP)


class Integration(models.Model):
    name = models.CharField(max_length=NAME_MAX, unique=True)
    routing_key = models.CharField(max_length=32, unique=True, default=new_routing_key)
    groups = models.ManyToManyField("sos.Group", related_name="integrations", blank=True)
    escalation_policy = models.ForeignKey(
        "sos.EscalationPolicy",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="integrations",
        help_text="Escalates the alerts this integration raises (else the groups' policy).",
    )
    message_template = models.TextField(
        max_length=2000,
        default=DEFAULT_MESSAGE_TEMPLATE,
        help_text="Django template over the event: summary, source, severity, component, group, "
        "class, custom_details, timestamp, links, images, client, client_url, dedup_key.",
    )
    severity_map = models.JSONField(
        default=default_severity_map, help_text="PagerDuty severity -> alert severity."
    )
    require_ack = models.BooleanField(
        default=False, help_text="Remind recipients until someone acknowledges."
    )
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def source(self) -> str:
        return f"{SOURCE_PREFIX}{self.name}"


class IntegrationAlert(models.Model):
    """The alert an integration's dedup_key opened. While that alert is open, triggers with the
    key are counted on it; acknowledge and resolve events act on it."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="alerts")
    alert = models.OneToOneField(
        "sos.Alert", on_delete=models.CASCADE, related_name="integration_link"
    )
    dedup_key = models.CharField(max_length=255)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["integration", "dedup_key"], name="sos_integration_dedup"),
        ]

    def __str__(self) -> str:
        return f"{self.integration} {self.dedup_key} -> alert #{self.alert_id}"
