from __future__ import annotations

from typing import Any

from django import forms

from modules.sos.models import Contact, EscalationPolicy, Group, Kind, Severity


class AckField(forms.NullBooleanField):
    """require_ack in three states: not chosen (None: the groups' default policy may apply),
    required (True), not required (False: no policy). "on" is what the checkbox this select
    replaced sent, so a page loaded before the change still raises what it said."""

    widget = forms.Select(
        choices=[
            ("", "Groups' default: their escalation policy, if any"),
            ("true", "Require acknowledgement (send reminders)"),
            ("false", "No acknowledgement, no escalation"),
        ]
    )
    default_error_messages = {"invalid": "Choose one of the acknowledgement options."}
    _values = {None: None, "": None, "true": True, "on": True, "false": False}

    def to_python(self, value: Any) -> bool | None:
        if isinstance(value, bool):
            return value
        if value not in self._values:
            raise forms.ValidationError(self.error_messages["invalid"])
        return self._values[value]


class AlertForm(forms.Form):
    message = forms.CharField(
        max_length=2000, widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What happened?"})
    )
    severity = forms.ChoiceField(choices=Severity.choices, initial=Severity.CRITICAL)
    groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    contacts = forms.ModelMultipleChoiceField(
        queryset=Contact.objects.filter(is_active=True),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text="Ctrl/Cmd-click to pick several.",
    )
    channels = forms.MultipleChoiceField(
        choices=Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every channel.",
    )
    latitude = forms.FloatField(required=False, min_value=-90, max_value=90)
    longitude = forms.FloatField(required=False, min_value=-180, max_value=180)
    accuracy_m = forms.FloatField(required=False, min_value=0, label="Accuracy (m)")
    require_ack = AckField(required=False, label="Acknowledgement")
    reminder_interval_min = forms.IntegerField(
        required=False, min_value=1, max_value=1440, label="Remind every (minutes)"
    )
    reminder_max = forms.IntegerField(
        required=False, min_value=0, max_value=50, label="Reminders at most"
    )
    escalate_to = forms.ModelChoiceField(
        queryset=Group.objects.all(), required=False, label="Then escalate to"
    )
    escalation_policy = forms.ModelChoiceField(
        queryset=EscalationPolicy.objects.all(),
        required=False,
        label="Or follow an escalation policy",
        help_text="Replaces the reminders above. None: the groups' default policy, if any.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        lat, lon = data.get("latitude"), data.get("longitude")
        if (lat is None) != (lon is None):
            raise forms.ValidationError("Give both latitude and longitude, or neither.")
        if not data.get("groups") and not data.get("contacts"):
            raise forms.ValidationError("Pick at least one group or contact.")
        if data.get("escalation_policy") and data.get("escalate_to"):
            raise forms.ValidationError("Choose 'Then escalate to' or a policy, not both.")
        return data

    def location(self) -> dict[str, float | None] | None:
        data = self.cleaned_data
        if data.get("latitude") is None:
            return None
        return {"lat": data["latitude"], "lon": data["longitude"], "accuracy_m": data["accuracy_m"]}


class ContactForm(forms.ModelForm):
    groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Contact
        fields = ["name", "notes", "is_active"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 2})}


class MethodForm(forms.Form):
    kind = forms.ChoiceField(choices=Kind.choices)
    address = forms.CharField(
        max_length=2000,
        help_text="name@example.com · +15555550100 · https://hooks.example.com/… · apprise URL",
    )
    label = forms.CharField(max_length=100, required=False)

    def __init__(self, *args: Any, allow_apprise: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not allow_apprise:
            self.fields["kind"].choices = [c for c in Kind.choices if c[0] != Kind.APPRISE]


class GroupForm(forms.ModelForm):
    members = forms.ModelMultipleChoiceField(
        queryset=Contact.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Group
        fields = ["name", "description", "members"]


class CsvImportForm(forms.Form):
    file = forms.FileField(required=False, help_text="UTF-8 CSV with a header row.")
    text = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "name,email,phone,webhook,groups"}),
        label="…or paste CSV",
    )

    def csv_data(self) -> str | bytes:
        upload = self.cleaned_data.get("file")
        return upload.read() if upload else self.cleaned_data.get("text", "")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("file") and not data.get("text", "").strip():
            raise forms.ValidationError("Choose a CSV file or paste CSV text.")
        return data
