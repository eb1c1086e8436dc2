import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sos", "0002_delivery_engine")]

    operations = [
        migrations.CreateModel(
            name="EscalationPolicy",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, unique=True)),
                ("description", models.CharField(blank=True, max_length=300)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"verbose_name_plural": "escalation policies", "ordering": ["name"]},
        ),
        migrations.AddField(
            model_name="alert",
            name="escalation_status",
            field=models.CharField(blank=True, default="", max_length=12),
        ),
        migrations.AddField(
            model_name="alert",
            name="escalation_step",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="alert",
            name="escalation_waves",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="alert",
            name="next_escalation_at",
            field=models.DateTimeField(blank=True, db_index=True, null=True),
        ),
        migrations.AddField(
            model_name="delivery",
            name="step",
            field=models.PositiveSmallIntegerField(
                default=0,
                help_text="The escalation step that last queued it; 0: the alert's own send.",
            ),
        ),
        migrations.AddField(
            model_name="alert",
            name="escalation_policy",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="sos.escalationpolicy",
            ),
        ),
        migrations.AddField(
            model_name="group",
            name="escalation_policy",
            field=models.ForeignKey(
                blank=True,
                help_text="Used by alerts to this group that name no policy.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="groups",
                to="sos.escalationpolicy",
            ),
        ),
        migrations.CreateModel(
            name="EscalationStep",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("order", models.PositiveSmallIntegerField(help_text="1 runs first.")),
                (
                    "remind_recipients",
                    models.BooleanField(
                        default=False,
                        help_text="Also notify again everyone the alert reached so far who has "
                        "not answered.",
                    ),
                ),
                (
                    "delay_min",
                    models.PositiveIntegerField(
                        default=0,
                        help_text="Minutes after the previous step (or the raise), and between "
                        "repeats.",
                    ),
                ),
                (
                    "repeat",
                    models.PositiveSmallIntegerField(
                        default=0,
                        help_text="Times the step is sent again to its silent recipients.",
                    ),
                ),
                (
                    "stop_rule",
                    models.CharField(
                        choices=[
                            ("any_ack", "Any acknowledgement"),
                            ("all_ack", "Everyone reached has answered"),
                            ("responses", "N responses"),
                        ],
                        default="any_ack",
                        max_length=16,
                    ),
                ),
                (
                    "responses_needed",
                    models.PositiveIntegerField(
                        default=1,
                        help_text="With the 'N responses' rule: answers that stop the escalation.",
                    ),
                ),
                (
                    "contacts",
                    models.ManyToManyField(blank=True, related_name="+", to="sos.contact"),
                ),
                ("groups", models.ManyToManyField(blank=True, related_name="+", to="sos.group")),
                (
                    "policy",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="steps",
                        to="sos.escalationpolicy",
                    ),
                ),
            ],
            options={
                "ordering": ["policy_id", "order"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("policy", "order"), name="sos_step_order_per_policy"
                    )
                ],
            },
        ),
    ]
