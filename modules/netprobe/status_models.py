"""Status pages: public pages of chosen monitors, incidents with their timeline, maintenance.

Imported by models.py so Django finds them; the workflows are in status.py and maintenance.py.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class StatusPage(models.Model):
    slug = models.SlugField(max_length=64, unique=True, help_text="The address: /status/<slug>/")
    title = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    public = models.BooleanField(
        default=True, help_text="Shown without login at /status/<slug>/; otherwise a 404 there."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title


class StatusPageGroup(models.Model):
    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.page}: {self.name}"


class StatusPageMonitor(models.Model):
    group = models.ForeignKey(StatusPageGroup, on_delete=models.CASCADE, related_name="items")
    monitor = models.ForeignKey(
        "netprobe.Monitor", on_delete=models.CASCADE, related_name="status_page_items"
    )
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["group", "monitor"], name="netprobe_status_item_unique")
        ]

    def __str__(self) -> str:
        return f"{self.group}: {self.monitor_id}"


class IncidentStatus(models.TextChoices):
    # Atlassian Statuspage's incident states.
    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"


class Incident(models.Model):
    class Impact(models.TextChoices):
        NONE = "none", "None"
        MINOR = "minor", "Minor"
        MAJOR = "major", "Major"
        CRITICAL = "critical", "Critical"

    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="incidents")
    title = models.CharField(max_length=200)
    impact = models.CharField(max_length=10, choices=Impact.choices, default=Impact.MINOR)
    # The latest update's status, kept here so a page lists open incidents in one query.
    status = models.CharField(
        max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.INVESTIGATING
    )
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["page", "-created_at"], name="netprobe_incident_page")]

    def __str__(self) -> str:
        return self.title


class IncidentUpdate(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    status = models.CharField(max_length=16, choices=IncidentStatus.choices)
    message = models.TextField()
    at = models.DateTimeField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.incident}: {self.status}"


class MaintenanceWindow(models.Model):
    class Recurrence(models.TextChoices):
        ONCE = "once", "One-off"
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"

    # The fields people set (besides `monitors` and `pages`): the service, admin and API share it.
    EDITABLE = (
        "title",
        "description",
        "starts_at",
        "ends_at",
        "recurrence",
        "weekdays",
        "duration_minutes",
        "timezone",
    )

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    monitors = models.ManyToManyField(
        "netprobe.Monitor", blank=True, related_name="maintenance_windows"
    )
    pages = models.ManyToManyField(StatusPage, blank=True, related_name="maintenance_windows")
    # One-off: the window. Recurring: starts_at is the first occurrence, whose wall-clock time in
    # `timezone` every occurrence keeps across DST; ends_at (optional) is when the series stops.
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    recurrence = models.CharField(max_length=8, choices=Recurrence.choices, default=Recurrence.ONCE)
    weekdays = models.JSONField(
        default=list, blank=True, help_text="Weekly: days of the week, 0 = Monday … 6 = Sunday."
    )
    duration_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Recurring: how long each occurrence lasts."
    )
    timezone = models.CharField(max_length=64, default="UTC")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "id"]

    def __str__(self) -> str:
        return self.title
