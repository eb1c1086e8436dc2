import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import modules.sos.integration_models


class Migration(migrations.Migration):
    dependencies = [
        ("sos", "0005_two_way"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Integration",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=30, unique=True)),
                (
                    "routing_key",
                    models.CharField(
                        default=modules.sos.integration_models.new_routing_key,
                        max_length=32,
                        unique=True,
                    ),
                ),
                (
                    "message_template",
                    models.TextField(
                        default="{{ summary }}{% if source %} ({{ source }}){% endif %}",
                        help_text="Django template over the event: summary, source, severity, "
                        "component, group, class, custom_details, timestamp, links, images, "
                        "client, client_url, dedup_key.",
                        max_length=2000,
                    ),
                ),
                (
                    "severity_map",
                    models.JSONField(
                        default=modules.sos.integration_models.default_severity_map,
                        help_text="PagerDuty severity -> alert severity.",
                    ),
                ),
                (
                    "require_ack",
                    models.BooleanField(
                        default=False, help_text="Remind recipients until someone acknowledges."
                    ),
                ),
                ("enabled", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("last_event_at", models.DateTimeField(blank=True, null=True)),
                ("last_error", models.CharField(blank=True, max_length=500)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "escalation_policy",
                    models.ForeignKey(
                        blank=True,
                        help_text="Escalates the alerts this integration raises "
                        "(else the groups' policy).",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="integrations",
                        to="sos.escalationpolicy",
                    ),
                ),
                (
                    "groups",
                    models.ManyToManyField(blank=True, related_name="integrations", to="sos.group"),
                ),
            ],
            options={"ordering": ["name"]},
        ),
        migrations.CreateModel(
            name="IntegrationAlert",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("dedup_key", models.CharField(max_length=255)),
                ("acknowledged_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "alert",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="integration_link",
                        to="sos.alert",
                    ),
                ),
                (
                    "integration",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="alerts",
                        to="sos.integration",
                    ),
                ),
            ],
            options={
                "ordering": ["-id"],
                "indexes": [
                    models.Index(fields=["integration", "dedup_key"], name="sos_integration_dedup")
                ],
            },
        ),
    ]
