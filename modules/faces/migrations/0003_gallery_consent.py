"""The gallery under consent and retention, schema first: subjects, consent records, subject
keys, the gallery version, the search and event audit, and the reference's new fields, nullable until
0004_gallery_legacy fills them for references enrolled before this migration and
0005_gallery_required makes them required.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("faces", "0002_quality_filter")]

    operations = [
        migrations.CreateModel(
            name="GalleryState",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("version", models.BigIntegerField(default=0)),
                ("removals", models.BigIntegerField(default=0)),
                (
                    "master_key_wrapped",
                    models.BinaryField(blank=True, default=b"", max_length=1024),
                ),
            ],
        ),
        migrations.CreateModel(
            name="Subject",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(db_index=True, max_length=120)),
                (
                    "external_ref",
                    models.CharField(
                        blank=True,
                        db_index=True,
                        help_text="Your reference for this person.",
                        max_length=200,
                    ),
                ),
                (
                    "synthetic",
                    models.BooleanField(
                        default=False, help_text="Made up for tests or benchmarks."
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="face_subjects",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["name", "id"]},
        ),
        migrations.CreateModel(
            name="SubjectKey",
            fields=[
                (
                    "subject",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="key",
                        serialize=False,
                        to="faces.subject",
                    ),
                ),
                ("wrapped", models.BinaryField(max_length=128)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.CreateModel(
            name="Consent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "legal_basis",
                    models.CharField(
                        choices=[
                            ("explicit_consent", "Explicit consent (art. 9(2)(a); BIPA release)"),
                            (
                                "employment",
                                "Employment and social security law (art. 9(2)(b))",
                            ),
                            ("vital_interests", "Vital interests (art. 9(2)(c))"),
                            (
                                "made_public",
                                "Manifestly made public by the subject (art. 9(2)(e))",
                            ),
                            ("legal_claims", "Legal claims (art. 9(2)(f))"),
                            ("public_interest", "Substantial public interest (art. 9(2)(g))"),
                            ("synthetic", "Synthetic data (no person)"),
                            ("legacy_unknown", "Legacy reference, consent unknown"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "text",
                    models.TextField(
                        blank=True, help_text="The consent text the subject agreed to."
                    ),
                ),
                ("recorded_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "recorded_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="face_consents",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "subject",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="consents",
                        to="faces.subject",
                    ),
                ),
            ],
            options={"ordering": ["-recorded_at", "-id"]},
        ),
        migrations.CreateModel(
            name="SearchAudit",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                ),
                ("username", models.CharField(blank=True, max_length=150)),
                ("source", models.CharField(default="api", max_length=8)),
                ("k", models.PositiveSmallIntegerField()),
                ("threshold", models.FloatField()),
                ("quality_filter", models.CharField(blank=True, max_length=8)),
                ("gallery_size", models.PositiveIntegerField()),
                ("faces", models.PositiveSmallIntegerField(default=0)),
                ("query_box", models.JSONField(blank=True, default=dict)),
                ("results", models.PositiveSmallIntegerField(default=0)),
                ("matches", models.PositiveSmallIntegerField(default=0)),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="face_searches",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["-created_at", "-id"]},
        ),
        migrations.CreateModel(
            name="GalleryEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("enroll", "Enrolled"),
                            ("consent", "Consent recorded"),
                            ("erase", "Erased"),
                            ("prune", "Pruned"),
                        ],
                        max_length=8,
                    ),
                ),
                ("username", models.CharField(blank=True, max_length=150)),
                ("subject_id", models.BigIntegerField(blank=True, db_index=True, null=True)),
                ("reference_id", models.BigIntegerField(blank=True, null=True)),
                ("count", models.PositiveIntegerField(default=1)),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="face_gallery_events",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["-created_at", "-id"]},
        ),
        migrations.CreateModel(
            name="MatchAudit",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("rank", models.PositiveSmallIntegerField()),
                ("reference_id", models.BigIntegerField(db_index=True)),
                ("subject_id", models.BigIntegerField(db_index=True)),
                ("distance", models.FloatField()),
                ("match", models.BooleanField()),
                (
                    "search",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="hits",
                        to="faces.searchaudit",
                    ),
                ),
            ],
            options={"ordering": ["search_id", "rank"]},
        ),
        # Nullable here, filled by 0004_gallery_legacy, required by 0005_gallery_required: on
        # PostgreSQL a table with pending deferred-FK trigger events cannot be ALTERed in the
        # same transaction as the data step.
        migrations.AddField(
            model_name="reference",
            name="subject",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="references",
                to="faces.subject",
            ),
        ),
        migrations.AddField(
            model_name="reference", name="uid", field=models.UUIDField(editable=False, null=True)
        ),
        migrations.AddField(
            model_name="reference",
            name="expires_at",
            field=models.DateTimeField(db_index=True, null=True),
        ),
        migrations.AddField(
            model_name="reference",
            name="added_version",
            field=models.BigIntegerField(db_index=True, default=0),
        ),
        migrations.AlterField(
            model_name="reference",
            name="descriptor",
            field=models.BinaryField(max_length=1100),
        ),
    ]
