from django.db import migrations, models
from django.db.models import F

ANSWERS = [
    ("received", "Received"),
    ("safe", "I am safe"),
    ("need_help", "I need help"),
    ("on_it", "On it"),
    ("cant_help", "Can't help"),
]


def latest_from_first(apps, schema_editor):
    """Answers given before this migration: the first answer is also the latest one."""
    Delivery = apps.get_model("sos", "Delivery")
    Delivery.objects.exclude(answer="").update(
        last_answer=F("answer"), answered_at=F("acknowledged_at"), answer_via="link"
    )


class Migration(migrations.Migration):
    dependencies = [("sos", "0003_escalation_policies")]

    operations: list = [
        migrations.AlterField(
            model_name="delivery",
            name="answer",
            field=models.CharField(blank=True, choices=ANSWERS, max_length=16),
        ),
        migrations.AddField(
            model_name="delivery",
            name="last_answer",
            field=models.CharField(blank=True, choices=ANSWERS, max_length=16),
        ),
        migrations.AddField(
            model_name="delivery",
            name="answered_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="delivery",
            name="answer_via",
            field=models.CharField(blank=True, help_text="link, sms or email", max_length=10),
        ),
        migrations.AddField(
            model_name="delivery",
            name="answer_note",
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.AddField(
            model_name="delivery",
            name="answer_latitude",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="delivery",
            name="answer_longitude",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="delivery",
            name="answer_accuracy_m",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="delivery",
            name="answered_late",
            field=models.BooleanField(
                default=False, help_text="The latest answer came after the alert was closed."
            ),
        ),
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
                ],
                max_length=20,
            ),
        ),
        migrations.RunPython(latest_from_first, migrations.RunPython.noop),
    ]
