"""API shapes of the vantage registry and of measurements from several locations."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from modules.netprobe.models import Vantage
from modules.netprobe.serializers import ProbeResultSerializer
from modules.netprobe.vantages.fanout import LOCATION_STATUSES
from modules.netprobe.vantages.measure import MeasurementEntry


class VantageSerializer(serializers.ModelSerializer):
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=256,
        help_text="shared HMAC-SHA256 key, at least 32 bytes; required to create, never "
        "answered; left out (or blank) on update keeps the current one",
    )

    class Meta:
        model = Vantage
        fields = [
            "id",
            "name",
            "region",
            "url",
            "secret",
            "enabled",
            "last_check_at",
            "last_check_ok",
            "last_check_latency_ms",
            "last_check_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "last_check_at",
            "last_check_ok",
            "last_check_latency_ms",
            "last_check_error",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            # The service answers a taken name (and the reserved "local", "all").
            "name": {"validators": []},
            "url": {"help_text": "base URL of the vantage; it must pass the hub's egress policy"},
        }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None and not attrs.get("secret"):
            raise serializers.ValidationError({"secret": ["This field is required."]})
        return attrs


class LocationEntrySerializer(serializers.Serializer):
    location = serializers.CharField(help_text='"local" (the hub) or a vantage name')
    status = serializers.ChoiceField(
        choices=list(LOCATION_STATUSES),
        help_text='"ok": the probe ran there (its own status may still be failed or timeout); '
        '"vantage_unavailable": the vantage is down, slower than the deadline or refused the '
        "hub's signature; `result` is null and `reason` says why",
    )
    result = serializers.SerializerMethodField()
    reason = serializers.CharField(allow_blank=True)
    latency_ms = serializers.FloatField(
        allow_null=True, help_text="the vantage's round trip; null for local"
    )

    @extend_schema_field(ProbeResultSerializer(allow_null=True))
    def get_result(self, entry: MeasurementEntry) -> dict[str, Any] | None:
        return ProbeResultSerializer(entry.row).data if entry.row is not None else None


class MeasurementSerializer(serializers.Serializer):
    measurement = serializers.UUIDField(source="id", help_text="shared by the stored rows")
    results = LocationEntrySerializer(source="entries", many=True)


class BatchMeasurementsSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    duration_ms = serializers.FloatField()
    results = MeasurementSerializer(many=True, help_text="one measurement per item, in order")
