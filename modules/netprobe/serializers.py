"""NetProbe API shapes. Probe options are validated by the engines (one set of rules for the
API, the UI, the CLI and the monitors); their errors come back as field errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from modules.netprobe.models import (
    Kind,
    Monitor,
    MonitorLocation,
    MonitorTransition,
    ProbeResult,
    Status,
)
from modules.netprobe.probes import ERROR_CODES, ProbeOptionsError
from modules.netprobe.probes.catalog import described_help, options_by_name, target_help
from modules.netprobe.runner import ProbeSpec, probe_validate
from modules.netprobe.vantages.locations import is_multi, resolve
from portal.ids import MAX_ID

SPEC_KEYS = ("kind", "target")
# Where the probe runs: beside the spec, not one of the kind's options.
LOCATIONS_HELP = (
    'where to run: vantage names, "local" (this hub) or ["all"]; default ["local"], answered '
    "as one result. Several locations (or any vantage) answer a measurement: one entry per "
    'location, status "ok" or "vantage_unavailable"'
)


class IdField(serializers.IntegerField):
    """A row id from a query string: ASCII digits only, at most MAX_ID."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and not (data.isascii() and data.isdecimal()):
            self.fail("invalid")
        return super().to_internal_value(data)


def split_payload(data: Any) -> tuple[str, str, dict[str, Any]]:
    """{"kind", "target", <options>...} (options may also come nested as "options": {...})."""
    if not isinstance(data, Mapping):
        raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
    options = {k: v for k, v in data.items() if k not in (*SPEC_KEYS, "options", "locations")}
    nested = data.get("options")
    if isinstance(nested, Mapping):
        options.update(nested)
    elif nested is not None:
        raise serializers.ValidationError({"options": ["Expected a JSON object."]})
    kind, target = data.get("kind"), data.get("target")
    errors = {}
    for name, value in (("kind", kind), ("target", target)):
        if value in (None, ""):
            errors[name] = ["This field is required."]
        elif not isinstance(value, str):
            errors[name] = ["Expected a string."]
    if errors:
        raise serializers.ValidationError(errors)
    return str(kind), str(target), options


def spec_from_payload(data: Any) -> ProbeSpec:
    kind, target, options = split_payload(data)
    try:
        return probe_validate(kind=kind, target=target, options=options)
    except ProbeOptionsError as exc:
        # Here, in the request's validation, engine errors are the request's field errors.
        raise serializers.ValidationError(exc.fields()) from exc


OPTION_FIELDS: dict[str, type[serializers.Field]] = {
    "bool": serializers.BooleanField,
    "int": serializers.IntegerField,
    "float": serializers.FloatField,
    "str": serializers.CharField,
}


def option_fields() -> dict[str, serializers.Field]:
    """One optional field per probe option, derived from the kinds' option dataclasses. They
    document the request (OpenAPI); the values are read and checked by the engine."""
    fields: dict[str, serializers.Field] = {}
    for name, infos in options_by_name().items():
        info, text = infos[0], described_help(infos)
        if info.type == "choice":
            choices = [c for c in info.choices if c]
            fields[name] = serializers.ChoiceField(choices=choices, required=False, help_text=text)
        elif info.type in ("list", "lines"):
            child = serializers.CharField()
            fields[name] = serializers.ListField(child=child, required=False, help_text=text)
        else:
            fields[name] = OPTION_FIELDS[info.type](required=False, help_text=text)
    return fields


class ProbeRequestSerializer(serializers.Serializer):
    """One probe: kind, target and the kind's options at the top level. Options a kind does not
    take are refused ("unknown option"); bounds come from the NETPROBE_* settings."""

    kind = serializers.ChoiceField(choices=Kind.choices)
    target = serializers.CharField(max_length=2048, help_text=target_help())
    locations = serializers.ListField(
        child=serializers.CharField(), required=False, help_text=LOCATIONS_HELP
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        # Built on first use, not at import: describing them loads every probe kind.
        return {**super().get_fields(), **option_fields()}

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        spec = spec_from_payload(data)
        value = data.get("locations")
        return {"spec": spec, "locations": locations_from_payload(value), "multi": is_multi(value)}


def locations_from_payload(value: Any) -> list[str]:
    """The request's `locations`, resolved: LocationsInvalid (400 validation_error) names an
    unknown or disabled one."""
    if value is not None and (
        not isinstance(value, list) or not all(isinstance(v, str) for v in value)
    ):
        raise serializers.ValidationError({"locations": ["Expected a list of location names."]})
    return resolve(value)


class ProbeErrorSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=list(ERROR_CODES))
    message = serializers.CharField()


class ResolvedSerializer(serializers.Serializer):
    addresses = serializers.ListField(child=serializers.CharField())
    used = serializers.CharField(allow_null=True)


@extend_schema_field({"type": "object", "additionalProperties": {}})
class StoredObjectField(serializers.JSONField):
    """A JSON object the probe stored, answered as it is: a DictField would copy it key by key
    through a child field, the costliest part of a probe list (bench/load.py)."""


class ProbeResultSerializer(serializers.ModelSerializer):
    error = serializers.SerializerMethodField()
    resolved = serializers.SerializerMethodField()
    result = StoredObjectField(read_only=True, help_text="kind-specific fields (see the README)")
    options = StoredObjectField(read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    location = serializers.CharField(
        read_only=True, help_text='Where the probe ran: "local" (this hub) or a vantage\'s name.'
    )
    measurement = serializers.UUIDField(
        read_only=True,
        allow_null=True,
        help_text="Shared by the rows of one measurement from several locations (a monitor's "
        "round); null for a probe run from one place.",
    )

    class Meta:
        model = ProbeResult
        fields = [
            "id",
            "kind",
            "target",
            "status",
            "error",
            "started_at",
            "duration_ms",
            "response_ms",
            "resolved",
            "ip_version",
            "result",
            "options",
            "monitor",
            "created_by",
            "location",
            "measurement",
        ]
        read_only_fields = fields

    @extend_schema_field(ProbeErrorSerializer(allow_null=True))
    def get_error(self, obj: ProbeResult) -> dict[str, str] | None:
        return obj.error

    @extend_schema_field(ResolvedSerializer)
    def get_resolved(self, obj: ProbeResult) -> dict[str, Any]:
        resolved = obj.resolved or {}
        return {"addresses": resolved.get("addresses", []), "used": resolved.get("used")}


class ProbeBriefSerializer(serializers.ModelSerializer):
    error = serializers.SerializerMethodField()

    class Meta:
        model = ProbeResult
        fields = ["id", "status", "error", "started_at", "duration_ms", "response_ms"]
        read_only_fields = fields

    @extend_schema_field(ProbeErrorSerializer(allow_null=True))
    def get_error(self, obj: ProbeResult) -> dict[str, str] | None:
        return obj.error


class ProbeFilterSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices, required=False)
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    target = serializers.CharField(required=False, help_text="exact target")
    search = serializers.CharField(required=False, help_text="part of the target")
    since = serializers.DateTimeField(required=False, help_text="started at or after (ISO 8601)")
    until = serializers.DateTimeField(required=False, help_text="started before (ISO 8601)")
    monitor = IdField(required=False, help_text="the monitor's id")


class MonitorFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=Monitor.State.choices, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=Kind.choices, required=False, allow_blank=True)


class BatchItemSerializer(ProbeRequestSerializer):
    """One batch item: a probe without `locations` (the batch's own apply to every item)."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields.pop("locations", None)
        return fields


class BatchRequestSerializer(serializers.Serializer):
    items = serializers.ListField(
        child=BatchItemSerializer(),
        help_text="up to NETPROBE_BATCH_MAX (100) probes, each like POST /probes/",
    )
    locations = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text=LOCATIONS_HELP + " (per item; items x locations at most NETPROBE_BATCH_MAX)",
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        items = data.get("items")
        limit = settings.NETPROBE_BATCH_MAX
        if not isinstance(items, list) or not items:
            raise serializers.ValidationError({"items": ["Expected a non-empty list."]})
        if len(items) > limit:
            raise serializers.ValidationError({"items": [f"At most {limit} items per batch."]})
        specs, errors = [], {}
        for index, item in enumerate(items):
            try:
                if isinstance(item, Mapping) and "locations" in item:
                    raise serializers.ValidationError(
                        {"locations": ["Set locations on the batch, for every item."]}
                    )
                specs.append(spec_from_payload(item))
            except serializers.ValidationError as exc:
                errors[str(index)] = exc.detail
        if errors:
            raise serializers.ValidationError({"items": errors})
        value = data.get("locations")
        return {
            "specs": specs,
            "locations": locations_from_payload(value),
            "multi": is_multi(value),
        }


class BatchResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    duration_ms = serializers.FloatField()
    results = ProbeResultSerializer(many=True)


class MonitorLocationSerializer(serializers.ModelSerializer):
    """One location's own state in a monitor run from several locations (quorum.py)."""

    last_result_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = MonitorLocation
        fields = [
            "location",
            "state",
            "consecutive_failures",
            "consecutive_successes",
            "last_result_id",
            "last_checked_at",
            "unavailable_reason",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "unavailable_reason": {
                "help_text": "why the vantage did not answer in the last round (empty: it did)"
            }
        }


class MonitorSerializer(serializers.ModelSerializer):
    options = serializers.DictField(required=False, help_text="the kind's options, as for probes")
    locations = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=64,
        help_text='vantage names and/or "local", or ["all"]; empty: the hub alone ("local")',
    )
    location_states = MonitorLocationSerializer(
        many=True,
        read_only=True,
        help_text="each location's own state (empty for a monitor run from the hub alone)",
    )
    sos_group = serializers.PrimaryKeyRelatedField(
        queryset=Monitor._meta.get_field("sos_group").related_model.objects.all(),  # type: ignore[union-attr]
        allow_null=True,
        required=False,
        help_text="SOS Broadcast group alerted when the monitor goes down or recovers",
    )
    last_result = ProbeBriefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Monitor
        fields = [
            "id",
            "name",
            "kind",
            "target",
            "options",
            "interval_s",
            "failure_threshold",
            "recovery_threshold",
            "sos_group",
            "enabled",
            "cert_expiry_days",
            "cert_warned_expiry",
            "locations",
            "quorum",
            "state",
            "location_states",
            "consecutive_failures",
            "consecutive_successes",
            "next_run_at",
            "last_run_at",
            "last_result",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "state",
            "consecutive_failures",
            "consecutive_successes",
            "next_run_at",
            "last_run_at",
            "last_result",
            "cert_warned_expiry",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "interval_s": {"help_text": "seconds between runs (at least 30)"},
            "quorum": {
                "help_text": "failing locations in one round before the monitor is down, "
                "1 to the number of locations (null: a majority)"
            },
        }


class TransitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = MonitorTransition
        fields = [
            "id",
            "from_state",
            "to_state",
            "at",
            "reason",
            "result",
            "alert_id",
            "alert_error",
        ]
        read_only_fields = fields


ROUNDS_HELP = (
    " A monitor run from several locations counts rounds: a round is down when at least its "
    "quorum of locations failed."
)


class UptimeSerializer(serializers.Serializer):
    window = serializers.CharField()
    checks = serializers.IntegerField(help_text="Checks in the window." + ROUNDS_HELP)
    ok = serializers.IntegerField(help_text="Ok checks (up rounds).")
    uptime_percent = serializers.FloatField(allow_null=True)
    avg_response_ms = serializers.FloatField(allow_null=True)
    min_response_ms = serializers.FloatField(allow_null=True)
    max_response_ms = serializers.FloatField(allow_null=True)


class PointSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    response_ms = serializers.FloatField(allow_null=True)
    checks = serializers.IntegerField(help_text="Checks in this point." + ROUNDS_HELP)
    failures = serializers.IntegerField(help_text="Failed checks (down rounds).")


class SeriesSerializer(serializers.Serializer):
    window = serializers.CharField()
    points = PointSerializer(many=True)


class MonitorHistorySerializer(serializers.Serializer):
    monitor = MonitorSerializer()
    uptime = serializers.DictField(child=UptimeSerializer(), help_text="keys 24h, 7d, 30d")
    series = SeriesSerializer()
    transitions = TransitionSerializer(many=True)
