from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("portal", "0001_roles")]

    operations = [
        migrations.CreateModel(
            name="TrafficDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("module", models.CharField(max_length=16)),
                ("requests", models.PositiveBigIntegerField(default=0)),
                ("duration_ms", models.PositiveBigIntegerField(default=0)),
            ],
            options={
                "ordering": ["-day", "module"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("day", "module"), name="portal_traffic_day_module"
                    )
                ],
            },
        ),
    ]
