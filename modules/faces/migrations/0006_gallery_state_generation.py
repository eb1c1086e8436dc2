from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("faces", "0005_gallery_required")]

    operations = [
        migrations.AddField(
            model_name="gallerystate",
            name="generation",
            field=models.CharField(blank=True, default="", max_length=32),
        ),
        migrations.AddField(
            model_name="gallerystate",
            name="key_epoch",
            field=models.BigIntegerField(default=0),
        ),
    ]
