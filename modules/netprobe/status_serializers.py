"""API shapes of status pages, incidents and their updates, and maintenance windows."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from modules.netprobe.models import Monitor
from modules.netprobe.status_models import (
    Incident,
    IncidentStatus,
    IncidentUpdate,
    MaintenanceWindow,
    StatusPage,
)
from portal.ids import MAX_ID


class GroupSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    monitors = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        help_text="monitor ids, in order",
    )

    def to_representation(self, group: Any) -> dict[str, Any]:
        return {"name": group.name, "monitors": [item.monitor_id for item in group.items.all()]}


class StatusPageSerializer(serializers.ModelSerializer):
    groups = GroupSerializer(many=True, required=False, help_text="replaces the groups when sent")
    public_url = serializers.SerializerMethodField()

    class Meta:
        model = StatusPage
        fields = [
            "id",
            "slug",
            "title",
            "description",
            "public",
            "groups",
            "public_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        # The service checks slugs (and their uniqueness) and answers in the usual envelope.
        extra_kwargs = {"slug": {"required": False, "validators": []}}

    def get_public_url(self, page: StatusPage) -> str:
        return reverse("status:page", args=[page.slug])


class IncidentUpdateSerializer(serializers.ModelSerializer):
    by = serializers.CharField(source="by.get_username", default=None, read_only=True)

    class Meta:
        model = IncidentUpdate
        fields = ["id", "status", "message", "at", "by"]
        read_only_fields = ["id", "at", "by"]


class IncidentSerializer(serializers.ModelSerializer):
    updates = IncidentUpdateSerializer(many=True, read_only=True)
    message = serializers.CharField(write_only=True, help_text="the first update's text")

    class Meta:
        model = Incident
        fields = [
            "id",
            "page",
            "title",
            "impact",
            "status",
            "message",
            "created_at",
            "resolved_at",
            "updates",
        ]
        read_only_fields = ["id", "page", "created_at", "resolved_at", "updates"]


class IncidentChangeSerializer(serializers.ModelSerializer):
    """What an edit may change; the status moves by posting updates."""

    class Meta:
        model = Incident
        fields = ["title", "impact"]


class IncidentUpdateRequestSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=IncidentStatus.choices)
    message = serializers.CharField()


class MaintenanceSerializer(serializers.ModelSerializer):
    monitors = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Monitor.objects.all(), required=False
    )
    pages = serializers.PrimaryKeyRelatedField(
        many=True, queryset=StatusPage.objects.all(), required=False
    )
    weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6), required=False
    )
    next_occurrence = serializers.SerializerMethodField()

    class Meta:
        model = MaintenanceWindow
        fields = [
            "id",
            *MaintenanceWindow.EDITABLE,
            "monitors",
            "pages",
            "next_occurrence",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def get_next_occurrence(self, window: MaintenanceWindow) -> dict[str, Any] | None:
        from django.utils import timezone

        from modules.netprobe.maintenance import current_or_next

        found = current_or_next(window, timezone.now())
        return {"starts_at": found[0], "ends_at": found[1]} if found else None
