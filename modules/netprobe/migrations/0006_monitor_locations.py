from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("netprobe", "0005_vantages")]

    operations = [
        migrations.AddField(
            model_name="monitorlocation",
            name="last_measurement",
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="monitorlocation",
            name="last_checked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="monitorlocation",
            name="unavailable_reason",
            field=models.CharField(blank=True, max_length=500),
        ),
    ]
