from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("sos", "0001_initial")]

    operations: list = []
