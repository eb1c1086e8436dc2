"""The reference's subject, uid and expiry, filled by 0004_gallery_legacy, become required (in
their own migration: PostgreSQL refuses to ALTER a table with pending deferred-FK trigger
events from the data step's transaction)."""

import uuid

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("faces", "0004_gallery_legacy")]

    operations = [
        migrations.AlterField(
            model_name="reference",
            name="subject",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="references",
                to="faces.subject",
            ),
        ),
        migrations.AlterField(
            model_name="reference",
            name="uid",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AlterField(
            model_name="reference",
            name="expires_at",
            field=models.DateTimeField(db_index=True),
        ),
    ]
