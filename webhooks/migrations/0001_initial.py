"""Kima v1.5.0: the WebhookEvent table (event sourcing for Lidarr webhooks)."""

import django.utils.timezone
from django.db import migrations, models

import kima.db


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="WebhookEvent",
            fields=[
                (
                    "id",
                    kima.db.KimaIdField(
                        default=kima.db.new_cuid, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("event_id", kima.db.UniqueTextField(db_column="eventId")),
                ("source", models.TextField()),
                ("event_type", models.TextField(db_column="eventType")),
                ("payload", models.JSONField()),
                ("processed", models.BooleanField(db_default=False, default=False)),
                (
                    "processed_at",
                    kima.db.KimaDateTimeField(blank=True, db_column="processedAt", null=True),
                ),
                (
                    "correlation_id",
                    models.TextField(blank=True, db_column="correlationId", null=True),
                ),
                ("error", models.TextField(blank=True, null=True)),
                (
                    "retry_count",
                    models.IntegerField(db_column="retryCount", db_default=0, default=0),
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
                "db_table": "WebhookEvent",
                "indexes": [
                    models.Index(
                        fields=["source", "event_type"], name="WebhookEvent_source_eventType_idx"
                    ),
                    models.Index(fields=["processed"], name="WebhookEvent_processed_idx"),
                    models.Index(fields=["correlation_id"], name="WebhookEvent_correlationId_idx"),
                    models.Index(fields=["created_at"], name="WebhookEvent_createdAt_idx"),
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("event_id",), name="WebhookEvent_eventId_key")
                ],
            },
        ),
    ]
