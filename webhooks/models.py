"""Kima's `WebhookEvent` store: every received webhook, kept before it is processed,
plus the Lidarr health checks that Health/HealthRestored events report."""

from django.db import models
from django.utils import timezone

from kima.db import CurrentTimestamp, KimaDateTimeField, KimaIdField, UniqueTextField


class EventStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # stored, not processed yet
    PROCESSING = "processing", "Processing"  # claimed by a worker (claimedAt)
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"  # will be retried at nextAttemptAt
    DEAD = "dead", "Dead"  # retries used up; kept until an operator acts
    IGNORED = "ignored", "Ignored"  # an event type we do not know


# Statuses that count as done for Kima's `processed` flag.
DONE_STATUSES = (EventStatus.PROCESSED, EventStatus.IGNORED)


class WebhookEvent(models.Model):
    """One received webhook. Kima's columns, plus (ours, additive) `status`, `claimedAt`,
    `nextAttemptAt` and `outcome`; `processed` stays in step with `status` for Kima."""

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
    status = models.TextField(
        choices=EventStatus.choices, default=EventStatus.PENDING, db_default=EventStatus.PENDING
    )
    claimed_at = KimaDateTimeField(db_column="claimedAt", null=True, blank=True)
    next_attempt_at = KimaDateTimeField(db_column="nextAttemptAt", null=True, blank=True)
    outcome = models.TextField(null=True, blank=True)

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
            models.Index(fields=["status", "next_attempt_at"], name="WebhookEvent_status_next_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.event_type} {self.event_id}"


class LidarrHealthIssue(models.Model):
    """A Lidarr health check reported failing by a Health event (ours, not Kima's).
    HealthRestored sets `restoredAt`; the check is open while it is NULL."""

    check_type = models.CharField(max_length=200, unique=True)
    level = models.CharField(max_length=20)
    message = models.TextField()
    wiki_url = models.TextField(blank=True, default="")
    reported_at = models.DateTimeField()
    restored_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.check_type}: {self.message}"
