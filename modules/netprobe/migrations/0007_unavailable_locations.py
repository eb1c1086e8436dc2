from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("netprobe", "0006_monitor_locations"),
    ]

    operations = [
        migrations.CreateModel(
            name="UnavailableLocation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("measurement", models.UUIDField(db_index=True)),
                ("location", models.CharField(max_length=64)),
                ("reason", models.CharField(blank=True, max_length=500)),
                ("at", models.DateTimeField(db_index=True)),
            ],
            options={
                "ordering": ["measurement", "location"],
            },
        ),
    ]
