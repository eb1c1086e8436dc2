"""Escalation policies: ordered steps that notify more people while nobody (or too few) answer.

Imported by models.py so Django finds them. The alert's own recipients are the first wave; a
policy's steps come after it. The runner is outbox/escalation.py, the workflows escalation.py.
"""

from __future__ import annotations

from django.db import models


class EscalationPolicy(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        return self.name


class StopRule(models.TextChoices):
    ANY_ACK = "any_ack", "Any acknowledgement"
    ALL_ACK = "all_ack", "Everyone reached has answered"
    RESPONSES = "responses", "N responses"


class EscalationStep(models.Model):
    """One wave of the policy, sent `1 + repeat` times, `delay_min` apart, unless its stop rule
    is met. The first wave waits `delay_min` after the previous step's last wave (or the raise)."""

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveSmallIntegerField(help_text="1 runs first.")
    groups = models.ManyToManyField("sos.Group", related_name="+", blank=True)
    contacts = models.ManyToManyField("sos.Contact", related_name="+", blank=True)
    remind_recipients = models.BooleanField(
        default=False,
        help_text="Also notify again everyone the alert reached so far who has not answered.",
    )
    delay_min = models.PositiveIntegerField(
        default=0, help_text="Minutes after the previous step (or the raise), and between repeats."
    )
    repeat = models.PositiveSmallIntegerField(
        default=0, help_text="Times the step is sent again to its silent recipients."
    )
    stop_rule = models.CharField(max_length=16, choices=StopRule.choices, default=StopRule.ANY_ACK)
    responses_needed = models.PositiveIntegerField(
        default=1, help_text="With the 'N responses' rule: answers that stop the escalation."
    )

    class Meta:
        ordering = ["policy_id", "order"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "order"], name="sos_step_order_per_policy")
        ]

    def __str__(self) -> str:
        return f"{self.policy} step {self.order}"


class EscalationStatus(models.TextChoices):
    NONE = "", "No escalation"
    ACTIVE = "active", "Waiting for the next step"
    SATISFIED = "satisfied", "Stopped: the stop rule was met"
    EXHAUSTED = "exhausted", "Every step was sent"
