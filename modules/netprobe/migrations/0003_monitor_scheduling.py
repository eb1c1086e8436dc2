import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("netprobe", "0002_sos_group_help_text")]

    operations: list = [
        migrations.AddField(
            model_name="monitor",
            name="cert_expiry_days",
            field=models.PositiveSmallIntegerField(
                default=14,
                help_text="TLS and HTTPS monitors: warn this many days before the leaf or any "
                "chain certificate expires (0: never).",
                validators=[django.core.validators.MaxValueValidator(3650)],
            ),
        ),
        migrations.AddField(
            model_name="monitor",
            name="cert_warned_expiry",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
