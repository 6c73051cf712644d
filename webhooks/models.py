"""Kima's `WebhookEvent` store: every received webhook, kept before it is processed."""

from django.db import models
from django.utils import timezone

from kima.db import CurrentTimestamp, KimaDateTimeField, KimaIdField, UniqueTextField


class WebhookEvent(models.Model):
    id = KimaIdField()
    event_id = UniqueTextField(db_column="eventId")
    source = models.TextField()
    event_type = models.TextField(db_column="eventType")
    payload = models.JSONField()
    processed = models.BooleanField(default=False, db_default=False)
    processed_at = KimaDateTimeField(db_column="processedAt", null=True, blank=True)
    correlation_id = models.TextField(db_column="correlationId", null=True, blank=True)
    error = models.TextField(null=True, blank=True)
    retry_count = models.IntegerField(db_column="retryCount", default=0, db_default=0)
    created_at = KimaDateTimeField(
        db_column="createdAt", default=timezone.now, db_default=CurrentTimestamp()
    )

    class Meta:
        db_table = "WebhookEvent"
        constraints = [
            models.UniqueConstraint(fields=["event_id"], name="WebhookEvent_eventId_key")
        ]
        indexes = [
            models.Index(fields=["source", "event_type"], name="WebhookEvent_source_eventType_idx"),
            models.Index(fields=["processed"], name="WebhookEvent_processed_idx"),
            models.Index(fields=["correlation_id"], name="WebhookEvent_correlationId_idx"),
            models.Index(fields=["created_at"], name="WebhookEvent_createdAt_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.event_type} {self.event_id}"
