"""Kima v1.4.3: User and ApiKey as Prisma created them."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import kima.db
import kima.migration_ops


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="User",
            fields=[
                (
                    "id",
                    kima.db.KimaIdField(
                        default=kima.db.new_cuid, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("username", kima.db.UniqueTextField()),
                ("password", models.TextField(db_column="passwordHash")),
                (
                    "role",
                    models.TextField(
                        choices=[("user", "User"), ("admin", "Admin")],
                        db_default="user",
                        default="user",
                    ),
                ),
                (
                    "onboarding_complete",
                    models.BooleanField(
                        db_column="onboardingComplete", db_default=False, default=False
                    ),
                ),
                (
                    "enrichment_settings",
                    models.JSONField(blank=True, db_column="enrichmentSettings", null=True),
                ),
                (
                    "two_factor_enabled",
                    models.BooleanField(
                        db_column="twoFactorEnabled", db_default=False, default=False
                    ),
                ),
                (
                    "two_factor_secret",
                    models.TextField(blank=True, db_column="twoFactorSecret", null=True),
                ),
                (
                    "two_factor_recovery_codes",
                    models.TextField(blank=True, db_column="twoFactorRecoveryCodes", null=True),
                ),
                (
                    "mood_mix_params",
                    models.JSONField(blank=True, db_column="moodMixParams", null=True),
                ),
                (
                    "token_version",
                    models.IntegerField(db_column="tokenVersion", db_default=0, default=0),
                ),
                (
                    "created_at",
                    kima.db.KimaDateTimeField(
                        db_column="createdAt",
                        db_default=kima.db.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                    ),
                ),
            ],
            options={
                "db_table": "User",
                "constraints": [
                    models.UniqueConstraint(fields=("username",), name="User_username_key")
                ],
            },
        ),
        migrations.CreateModel(
            name="ApiKey",
            fields=[
                (
                    "id",
                    kima.db.KimaIdField(
                        default=kima.db.new_cuid, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("key", kima.db.UniqueTextField()),
                ("name", models.TextField()),
                (
                    "last_used",
                    kima.db.KimaDateTimeField(
                        db_column="lastUsed",
                        db_default=kima.db.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                    ),
                ),
                (
                    "created_at",
                    kima.db.KimaDateTimeField(
                        db_column="createdAt",
                        db_default=kima.db.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        db_column="userId",
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_keys",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "db_table": "ApiKey",
                "indexes": [
                    models.Index(fields=["key"], name="ApiKey_key_idx"),
                    models.Index(fields=["last_used"], name="ApiKey_lastUsed_idx"),
                    models.Index(fields=["user"], name="ApiKey_userId_idx"),
                ],
                "constraints": [models.UniqueConstraint(fields=("key",), name="ApiKey_key_key")],
            },
        ),
        kima.migration_ops.AddForeignKeySQL(table="ApiKey", column="userId", ref_table="User"),
    ]
