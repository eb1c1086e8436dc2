import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sos", "0004_roll_call")]

    operations = [
        migrations.CreateModel(
            name="SmsOptOut",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("number", models.CharField(max_length=32, unique=True)),
                ("opted_out_at", models.DateTimeField()),
            ],
        ),
        # Choices only (no schema change): the kinds known when two-way replies added "reply".
        migrations.AlterField(
            model_name="alertevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("raised", "Raised"),
                    ("deduplicated", "Deduplicated"),
                    ("attempt", "Attempt"),
                    ("lease_expired", "Lease expired"),
                    ("acknowledged", "Acknowledged"),
                    ("answered_again", "Answered again"),
                    ("late_answer", "Answered after the end"),
                    ("reminder", "Reminder"),
                    ("escalated", "Escalated"),
                    ("cancelled", "Cancelled"),
                    ("resolved", "Resolved"),
                    ("retried", "Retried by an operator"),
                    ("reply", "Reply received"),
                ],
                max_length=20,
            ),
        ),
        migrations.CreateModel(
            name="InboundMessage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("provider", models.CharField(max_length=16)),
                ("message_id", models.CharField(max_length=200)),
                ("sender", models.CharField(blank=True, max_length=320)),
                ("body", models.CharField(blank=True, max_length=1000)),
                ("outcome", models.CharField(blank=True, max_length=40)),
                ("received_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                (
                    "alert",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="sos.alert",
                    ),
                ),
                (
                    "delivery",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="sos.delivery",
                    ),
                ),
            ],
            options={
                "ordering": ["-received_at", "-id"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("provider", "message_id"), name="sos_inbound_once_per_provider"
                    )
                ],
            },
        ),
    ]
