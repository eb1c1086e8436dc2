"""The operator UI's probe form: one fieldset of options per kind (names "<kind>-<option>").

Every fieldset is rendered; netprobe.js shows only the chosen kind's, and without JavaScript the
server reads the chosen kind's fieldset and ignores the others. The fields are derived from
the kinds' option dataclasses (`probes.catalog`); the engines validate the options, exactly as
for the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.core.validators import MinValueValidator

from modules.netprobe.models import Kind, Monitor, ProbeResult
from modules.netprobe.monitoring import monitor_check
from modules.netprobe.probes import ProbeOptionsError
from modules.netprobe.probes.catalog import kind_options
from portal import jsondepth
from portal.egress import EgressForbidden

INPUTS = {
    "bool": "checkbox",
    "choice": "select",
    "int": "number",
    "float": "number",
    "str": "text",
    "list": "text",
    "lines": "textarea",
}


@dataclass(frozen=True)
class OptionField:
    """One option of one kind as the form shows it, derived from the probes' catalog."""

    name: str
    label: str
    input: str = "text"  # text | number | select | checkbox
    choices: tuple[str, ...] = ()
    default: Any = None  # the placeholder of text and numbers, the initial state of checkboxes
    step: str = "any"
    help: str = ""


def kind_fields(kind: str) -> tuple[OptionField, ...]:
    return tuple(
        OptionField(
            name=info.name,
            label=info.label,
            input=INPUTS[info.type],
            choices=info.choices,
            default=info.default if info.type == "bool" else info.blank,
            step="1" if info.type == "int" else "any",
            help=info.help,
        )
        for info in kind_options(kind)
    )


def options_from_post(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The chosen kind's options from a submitted form (blank fields take the defaults)."""
    if data.get("options_json"):
        try:
            options = jsondepth.loads(str(data["options_json"]))
        except ValueError:  # TooDeep included
            return {"options": "not valid JSON"}
        return options if isinstance(options, dict) else {"options": "must be an object"}
    options: dict[str, Any] = {}
    for field in kind_fields(kind) if kind in Kind.values else ():
        key = f"{kind}-{field.name}"
        if field.input == "checkbox":
            value: Any = key in data
            if value != field.default:
                options[field.name] = value
            continue
        value = str(data.get(key, "")).strip()
        if value and not (field.input == "select" and value == field.default):
            options[field.name] = value
    return options


def fieldsets(
    *,
    kind: str,
    options: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """What the template renders: every kind's fieldset, the chosen one filled in."""
    options, errors = options or {}, errors or {}
    sets = []
    for name, label in Kind.choices:
        rows = []
        for field in kind_fields(name):
            chosen = name == kind
            value = options.get(field.name) if chosen else None
            if isinstance(value, list | tuple):
                value = _joined(field, value)
            checked = field.default if value is None else bool(value)
            rows.append(
                {
                    "id": f"id_{name}-{field.name}",
                    "name": f"{name}-{field.name}",
                    "label": field.label,
                    "input": field.input,
                    "choices": field.choices,
                    "value": "" if value is None else str(value),
                    "checked": checked,
                    "placeholder": "" if field.input == "checkbox" else field.default,
                    "step": field.step,
                    "help": field.help,
                    "error": errors.get(field.name, "") if chosen else "",
                }
            )
        sets.append({"kind": name, "label": label, "fields": rows, "selected": name == kind})
    return sets


def _joined(field: OptionField, values: list[Any] | tuple[Any, ...]) -> str:
    return ("\n" if field.input == "textarea" else ", ").join(map(str, values))


def option_errors(errors: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in errors.items() if k not in ("kind", "target")}


NAME_PREFIXES = {"http": "HTTP", "dns": "DNS", "tcp": "TCP", "tls": "TLS", "ping": "Ping"}


def suggest_name(kind: str, target: str, options: Mapping[str, Any] | None = None) -> str:
    """A monitor name from its probe ("HTTP example.com/health", "DNS MX example.com"), made
    unique among the monitors by a number."""
    what = target.strip()
    if kind == "http":
        try:
            parts = urlsplit(what)
            what = (parts.hostname or what) + (parts.path if parts.path not in ("", "/") else "")
        except ValueError:  # e.g. an unclosed IPv6 bracket: the target as typed
            pass
    record = str((options or {}).get("record_type") or "A")
    prefix = NAME_PREFIXES.get(kind, kind.title())
    if kind == "dns" and record != "A":
        prefix += f" {record}"
    limit = Monitor._meta.get_field("name").max_length or 100
    name = f"{prefix} {what}"[: limit - 4].strip()
    taken = set(Monitor.objects.filter(name__startswith=name).values_list("name", flat=True))
    suggestion, n = name, 1
    while suggestion in taken:
        n += 1
        suggestion = f"{name} {n}"
    return suggestion


def monitor_prefill(
    source: ProbeResult | None, query: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The new-monitor form's initial fields and options: those of a probe result ("Monitor
    this…"), else the kind and target in the query."""
    if source is not None:
        kind, target, options = source.kind, source.target, dict(source.options or {})
    else:
        kind = query.get("kind", "http")
        kind = kind if kind in Kind.values else "http"
        target, options = query.get("target", "")[:2048], {}
    initial: dict[str, Any] = {"kind": kind, "target": target}
    if target:
        initial["name"] = suggest_name(kind, target, options)
    return initial, options


class MonitorForm(forms.Form):
    """The monitor's own fields; its probe spec comes from the kind fieldsets."""

    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=Kind.choices)
    target = forms.CharField(max_length=2048)
    interval_s = forms.IntegerField(label="Interval (s)", initial=60)
    failure_threshold = forms.IntegerField(
        label="Down after N failures", initial=3, min_value=1, max_value=100
    )
    recovery_threshold = forms.IntegerField(
        label="Up after M successes", initial=1, min_value=1, max_value=100
    )
    sos_group = forms.ModelChoiceField(
        queryset=Monitor._meta.get_field("sos_group").related_model.objects.all(),  # type: ignore[union-attr]
        required=False,
        label="Alert SOS group",
        empty_label="no alert",
    )
    enabled = forms.BooleanField(required=False, initial=True)
    cert_expiry_days = forms.IntegerField(
        label="Certificate warning (days)",
        initial=14,
        required=False,  # empty: the default, 14
        min_value=0,
        max_value=3650,
        help_text="TLS and HTTPS: warn this many days before any certificate expires (0: never).",
    )
    locations = forms.CharField(
        required=False,
        max_length=2000,
        label="Locations",
        help_text='Comma-separated: "local" (this hub), vantage names, or "all". Empty: this hub.',
    )
    quorum = forms.IntegerField(
        required=False,
        min_value=1,
        label="Quorum",
        help_text="Failing locations in one round before it is down (empty: a majority).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.initial.get("locations"), list | tuple):
            self.initial["locations"] = ", ".join(self.initial["locations"])
        minimum = settings.NETPROBE_MONITOR_MIN_INTERVAL_S
        self.fields["interval_s"].min_value = minimum
        self.fields["interval_s"].validators.append(MinValueValidator(minimum))
        self.fields["interval_s"].widget.attrs["min"] = minimum

    def clean_locations(self) -> list[str]:
        """A list of names; the services check them (an unknown one is an error naming it)."""
        from modules.netprobe.vantages.locations import LocationsInvalid, parse_list

        try:
            return parse_list(self.cleaned_data["locations"])
        except LocationsInvalid as exc:
            raise forms.ValidationError(exc.message) from None


# --- the admin's monitor form ---------------------------------------------------------------

# The monitor's own fields, as the admin edits them; the options come from the kind fieldsets.
ADMIN_MONITOR_FIELDS = (
    "name",
    "kind",
    "target",
    "interval_s",
    "failure_threshold",
    "recovery_threshold",
    "sos_group",
    "enabled",
    "cert_expiry_days",
    "locations",
    "quorum",
)


class MonitorAdminFormBase(forms.ModelForm):
    """One field per option of every kind (named "<kind>-<option>", as in the UI form); only the
    chosen kind's are read, by `options_from_post`, and checked by the services' own rules."""

    # As the UI form has them: comma-separated names, not the JSON the model field would show.
    locations = MonitorForm.base_fields["locations"]
    quorum = MonitorForm.base_fields["quorum"]

    class Meta:
        model = Monitor
        fields = ADMIN_MONITOR_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["cert_expiry_days"].required = False  # empty: the default, 14
        if isinstance(self.initial.get("locations"), list | tuple):
            self.initial["locations"] = ", ".join(self.initial["locations"])
        if self.instance.pk and not self.is_bound:
            kind, options = self.instance.kind, self.instance.options or {}
            for field in kind_fields(kind) if kind in Kind.values else ():
                value = options.get(field.name)
                if isinstance(value, list | tuple):
                    value = _joined(field, value)
                if value is not None:
                    self.initial[f"{kind}-{field.name}"] = value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        kind = cleaned.get("kind") or ""
        fields = {name: cleaned.get(name) for name in ADMIN_MONITOR_FIELDS}
        fields["options"] = options_from_post(kind, self.data)
        try:
            monitor_check(fields)
        except ProbeOptionsError as exc:
            for name, message in exc.errors.items():
                option = f"{kind}-{name}"
                if name in self.fields or option in self.fields:
                    self.add_error(name if name in self.fields else option, message)
                else:
                    self.add_error(None, f"{name}: {message}")
        except EgressForbidden as exc:
            self.add_error("target", f"Refused by the egress policy: {exc.message}")
        cleaned["options"] = fields["options"]
        return cleaned

    clean_locations = MonitorForm.clean_locations


def _admin_field(field: OptionField) -> forms.Field:
    common = {"label": field.label, "help_text": field.help, "required": False}
    if field.input == "checkbox":
        return forms.BooleanField(initial=field.default, **common)
    if field.input == "select":
        choices = [(c, c or "none") for c in field.choices]
        return forms.ChoiceField(choices=choices, initial=field.default, **common)
    attrs = {"placeholder": field.default}
    if field.input == "number":
        return forms.CharField(widget=forms.NumberInput({**attrs, "step": field.step}), **common)
    if field.input == "textarea":
        return forms.CharField(widget=forms.Textarea({**attrs, "rows": 3}), **common)
    return forms.CharField(widget=forms.TextInput(attrs), **common)


@cache
def monitor_admin_form() -> type[forms.ModelForm]:
    """Built on first use, not at import: describing the options loads every probe kind."""
    declared = {
        f"{kind}-{field.name}": _admin_field(field)
        for kind in Kind.values
        for field in kind_fields(kind)
    }
    return type("MonitorAdminForm", (MonitorAdminFormBase,), declared)


def option_fieldsets() -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            f"{label} options",
            {
                "fields": [f"{kind}-{field.name}" for field in kind_fields(kind)],
                "classes": ["collapse"],
                "description": "Read only when the monitor is of this kind; blank = default.",
            },
        )
        for kind, label in Kind.choices
    ]
