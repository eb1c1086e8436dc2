"""Answers of the SOS API built from more than one serializer: a saved contact or method with
its channels' preflight warnings, and a "Send test" outcome beside its test alert's keys."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response

from modules.sos.models import Alert
from modules.sos.preflight import as_dicts, channel_warnings
from modules.sos.preflight_serializers import AlertRaisedSerializer, ChannelWarningSerializer
from modules.sos.selectors import with_counts
from modules.sos.send_test import MethodTestResult
from modules.sos.serializers import AlertSerializer, RecipientSerializer


def with_warnings(response: Response) -> Response:
    """A saved contact's answer, with the preflight warnings of its channels."""
    kinds = {m["kind"] for m in response.data.get("methods", [])}
    response.data["warnings"] = as_dicts(channel_warnings(kinds))
    return response


def method_test_body(result: MethodTestResult) -> dict[str, Any]:
    """The outcome of one test send beside the keys of the test alert that records it (the
    keys clients read before the outcome was added)."""
    alert = with_counts(Alert.objects.filter(pk=result.alert.pk)).prefetch_related("groups")
    return {**AlertSerializer(alert.get()).data, **result.as_dict()}


@extend_schema_serializer(component_name="SosAlertDryRun")
class AlertDryRunSerializer(serializers.Serializer):
    """The answer to `dry_run: true`: who the alert would reach; nothing is raised or sent."""

    dry_run = serializers.BooleanField(read_only=True)
    count = serializers.IntegerField(read_only=True)
    recipients = RecipientSerializer(many=True, read_only=True)
    warnings = ChannelWarningSerializer(many=True, read_only=True)


RAISE_200 = PolymorphicProxySerializer(
    component_name="SosAlertRaiseOk",
    serializers=[AlertRaisedSerializer, AlertDryRunSerializer],
    resource_type_field_name=None,
)
