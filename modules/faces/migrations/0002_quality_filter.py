from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("faces", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="comparison",
            name="quality_filter",
            field=models.CharField(default="NONE", max_length=8),
        ),
    ]
