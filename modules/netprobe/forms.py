"""The operator UI's probe form: one fieldset of options per kind (names "<kind>-<option>").

Every fieldset is rendered; netprobe.js shows only the chosen kind's, and without JavaScript the
server reads the chosen kind's fieldset and ignores the others. The engines validate the
options, exactly as for the API.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import MinValueValidator

from modules.netprobe.models import Kind, Monitor

IP_VERSIONS = ("auto", "4", "6")


@dataclass(frozen=True)
class OptionField:
    name: str
    label: str
    input: str = "text"  # text | number | select | checkbox
    choices: tuple[str, ...] = ()
    default: Any = None  # a placeholder for text and numbers, the initial state of checkboxes
    step: str = "any"
    help: str = ""


def _timeout(default: float) -> OptionField:
    return OptionField("timeout", "Timeout (s)", "number", default=default)


_IP = OptionField("ip_version", "IP version", "select", IP_VERSIONS, "auto")

KIND_FIELDS: dict[str, tuple[OptionField, ...]] = {
    "http": (
        OptionField("method", "Method", "select", ("GET", "HEAD"), "GET"),
        OptionField("follow_redirects", "Follow redirects", "checkbox", default=True),
        OptionField("max_redirects", "Max redirects", "number", default=5, step="1"),
        OptionField("verify_tls", "Verify TLS certificate", "checkbox", default=True),
        OptionField(
            "expect_status", "Accepted status", default="200-399", help="e.g. 200, 2xx, 301-308"
        ),
        OptionField(
            "keyword", "Body contains", help="a keyword the first 64 KiB of the body must contain"
        ),
        OptionField("regex", "Body matches (regex)", help="searched in the first 64 KiB"),
        OptionField("body_excerpt_bytes", "Body excerpt (bytes)", "number", default=2048, step="1"),
        _timeout(5),
        _IP,
    ),
    "dns": (
        OptionField(
            "record_type",
            "Record type",
            "select",
            ("A", "AAAA", "CNAME", "MX", "NS", "TXT", "SOA", "SRV", "CAA", "PTR"),
            "A",
        ),
        OptionField("resolver", "Resolver", default="system resolver", help="IP or IP:port"),
        OptionField("transport", "Transport", "select", ("udp", "tcp"), "udp"),
        OptionField("dnssec", "Ask for DNSSEC (AD flag)", "checkbox", default=False),
        _timeout(5),
        _IP,
    ),
    "tcp": (
        OptionField("port", "Port", "number", default="from the target", step="1"),
        OptionField("count", "Count", "number", default=4, step="1"),
        OptionField("interval", "Interval (s)", "number", default=0.2),
        _timeout(5),
        _IP,
    ),
    "tls": (
        OptionField("port", "Port", "number", default=443, step="1"),
        OptionField("starttls", "STARTTLS", "select", ("", "smtp", "imap", "pop3"), ""),
        OptionField("servername", "Server name (SNI)", default="the target host"),
        OptionField("verify_tls", "Verify the chain", "checkbox", default=True),
        _timeout(5),
        _IP,
    ),
    "ping": (
        OptionField("count", "Count", "number", default=4, step="1"),
        OptionField("interval", "Interval (s)", "number", default=0.5),
        _timeout(2),
        _IP,
    ),
    "traceroute": (
        OptionField("max_hops", "Max hops", "number", default=30, step="1"),
        OptionField("count", "Probes per hop", "number", default=2, step="1"),
        _timeout(1),
        OptionField("reverse_dns", "Reverse DNS names", "checkbox", default=True),
        _IP,
    ),
}

TARGET_HELP = {
    "http": "a URL, e.g. https://example.com/",
    "dns": "a domain name, e.g. example.com (an IP address for PTR)",
    "tcp": "host:port, e.g. example.com:443",
    "tls": "host or host:port, e.g. example.com",
    "ping": "a host name or IP address",
    "traceroute": "a host name or IP address",
}


def options_from_post(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The chosen kind's options from a submitted form (blank fields take the defaults)."""
    if data.get("options_json"):
        try:
            options = json.loads(str(data["options_json"]))
        except ValueError:
            return {"options": "not valid JSON"}
        return options if isinstance(options, dict) else {"options": "must be an object"}
    options: dict[str, Any] = {}
    for field in KIND_FIELDS.get(kind, ()):
        key = f"{kind}-{field.name}"
        if field.input == "checkbox":
            value: Any = key in data
            if value != field.default:
                options[field.name] = value
            continue
        value = str(data.get(key, "")).strip()
        if value and not (field.input == "select" and value == str(field.default)):
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
        for field in KIND_FIELDS[name]:
            chosen = name == kind
            value = options.get(field.name) if chosen else None
            if isinstance(value, list | tuple):
                value = ", ".join(map(str, value))
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
                    "placeholder": "" if field.default is None else str(field.default),
                    "step": field.step,
                    "help": field.help,
                    "error": errors.get(field.name, "") if chosen else "",
                }
            )
        sets.append({"kind": name, "label": label, "fields": rows, "selected": name == kind})
    return sets


def option_errors(errors: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in errors.items() if k not in ("kind", "target")}


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        minimum = settings.NETPROBE_MONITOR_MIN_INTERVAL_S
        self.fields["interval_s"].min_value = minimum
        self.fields["interval_s"].validators.append(MinValueValidator(minimum))
        self.fields["interval_s"].widget.attrs["min"] = minimum
