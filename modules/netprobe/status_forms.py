"""The operator UI's forms for status pages, incidents and maintenance windows.

They check input types only; meaning (slugs, time zones, recurrences) is checked by the
services in status.py, whose StatusInvalid errors the views put back on these forms.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone

from modules.netprobe.maintenance import zone
from modules.netprobe.models import Monitor
from modules.netprobe.status_models import (
    Incident,
    IncidentStatus,
    MaintenanceWindow,
    StatusPage,
)

WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]
LOCAL = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class StatusPageForm(forms.Form):
    title = forms.CharField(max_length=120)
    slug = forms.CharField(max_length=64, required=False, help_text="The address /status/<slug>/")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    public = forms.BooleanField(required=False, initial=True)


class IncidentForm(forms.Form):
    title = forms.CharField(max_length=200)
    impact = forms.ChoiceField(choices=Incident.Impact.choices, initial=Incident.Impact.MINOR)
    status = forms.ChoiceField(choices=IncidentStatus.choices)
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


class IncidentUpdateForm(forms.Form):
    status = forms.ChoiceField(choices=IncidentStatus.choices)
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class MaintenanceForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    monitors = forms.ModelMultipleChoiceField(
        Monitor.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    pages = forms.ModelMultipleChoiceField(
        StatusPage.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Shown on",
    )
    timezone = forms.CharField(max_length=64, initial=settings.TIME_ZONE)
    starts_at = forms.DateTimeField(widget=LOCAL, label="Starts (in that time zone)")
    ends_at = forms.DateTimeField(
        widget=LOCAL,
        required=False,
        label="Ends",
        help_text="One-off: the end. Recurring: optional, when the series stops.",
    )
    recurrence = forms.ChoiceField(choices=MaintenanceWindow.Recurrence.choices)
    weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS, coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    duration_minutes = forms.IntegerField(
        min_value=1, required=False, label="Duration (minutes)", help_text="Recurring windows."
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            tz = zone(data.get("timezone") or "")
        except ValueError as exc:
            self.add_error("timezone", str(exc))
            return data
        # The browser sends wall-clock times: they are meant in the window's own time zone.
        for name in ("starts_at", "ends_at"):
            if data.get(name) is not None:
                wall = timezone.make_naive(data[name])
                data[name] = timezone.make_aware(wall, tz)
        return data

    @classmethod
    def initial_for(cls, window: MaintenanceWindow) -> dict[str, Any]:
        tz = zone(window.timezone)

        def wall(value: Any) -> Any:
            return value.astimezone(tz).replace(tzinfo=None) if value else None

        return {
            "title": window.title,
            "description": window.description,
            "monitors": list(window.monitors.all()),
            "pages": list(window.pages.all()),
            "timezone": window.timezone,
            "starts_at": wall(window.starts_at),
            "ends_at": wall(window.ends_at),
            "recurrence": window.recurrence,
            "weekdays": window.weekdays,
            "duration_minutes": window.duration_minutes,
        }
