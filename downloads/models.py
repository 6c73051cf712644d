"""Download jobs, discovery batches and notifications on Kima's tables."""

from django.conf import settings
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from kima.db import (
    CurrentTimestamp,
    EmptyTextArray,
    KimaDateTimeField,
    KimaIdField,
    StringListField,
    UniqueTextField,
)


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    EXHAUSTED = "exhausted", "Exhausted"


ACTIVE_JOB_STATUSES = (JobStatus.PENDING, JobStatus.PROCESSING)


class JobType(models.TextChoices):
    ALBUM = "album", "Album"
    TRACK = "track", "Track"
    SOULSEEK_SEARCH = "soulseek-search", "Soulseek search"


class BatchStatus(models.TextChoices):
    DOWNLOADING = "downloading", "Downloading"
    SCANNING = "scanning", "Scanning"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class DiscoveryBatch(models.Model):
    """A week's discovery downloads for one user. `version` guards concurrent updates."""

    id = KimaIdField()
    # Kima declares no foreign key on this column; we keep it that way.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        db_column="userId",
        db_constraint=False,
        db_index=False,
        related_name="discovery_batches",
    )
    week_start = KimaDateTimeField(db_column="weekStart")
    target_song_count = models.IntegerField(db_column="targetSongCount")
    status = models.TextField(
        choices=BatchStatus.choices, default=BatchStatus.DOWNLOADING, db_default="downloading"
    )
    total_albums = models.IntegerField(db_column="totalAlbums", default=0, db_default=0)
    completed_albums = models.IntegerField(db_column="completedAlbums", default=0, db_default=0)
    failed_albums = models.IntegerField(db_column="failedAlbums", default=0, db_default=0)
    final_song_count = models.IntegerField(db_column="finalSongCount", default=0, db_default=0)
    logs = models.JSONField(null=True, blank=True)
    error_message = models.TextField(db_column="errorMessage", null=True, blank=True)
    created_at = KimaDateTimeField(
        db_column="createdAt", default=timezone.now, db_default=CurrentTimestamp()
    )
    completed_at = KimaDateTimeField(db_column="completedAt", null=True, blank=True)
    version = models.IntegerField(default=0, db_default=0)

    class Meta:
        db_table = "DiscoveryBatch"
        verbose_name_plural = "discovery batches"
        indexes = [
            models.Index(fields=["created_at"], name="DiscoveryBatch_createdAt_idx"),
            models.Index(fields=["status"], name="DiscoveryBatch_status_idx"),
            models.Index(fields=["user", "week_start"], name="DiscoveryBatch_userId_weekStart_idx"),
        ]

    def __str__(self) -> str:
        return f"Discovery batch {self.id}"


class DownloadJob(models.Model):
    """One requested album (or track) download for one user."""

    id = KimaIdField()
    correlation_id = UniqueTextField(db_column="correlationId", null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        db_column="userId",
        db_constraint=False,  # Kima's `DownloadJob_userId_fkey`, created in migrations
        db_index=False,
        related_name="download_jobs",
    )
    subject = models.TextField()
    type = models.TextField(choices=JobType.choices)
    target_mbid = models.TextField(db_column="targetMbid", null=True, blank=True)
    status = models.TextField(choices=JobStatus.choices)
    error = models.TextField(null=True, blank=True)
    lidarr_ref = models.TextField(db_column="lidarrRef", null=True, blank=True)
    lidarr_album_id = models.IntegerField(db_column="lidarrAlbumId", null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    attempts = models.IntegerField(default=0, db_default=0)
    started_at = KimaDateTimeField(db_column="startedAt", null=True, blank=True)
    completed_at = KimaDateTimeField(db_column="completedAt", null=True, blank=True)
    created_at = KimaDateTimeField(
        db_column="createdAt", default=timezone.now, db_default=CurrentTimestamp()
    )
    updated_at = KimaDateTimeField(db_column="updatedAt", auto_now=True)
    discovery_batch = models.ForeignKey(
        DiscoveryBatch,
        on_delete=models.SET_NULL,
        db_column="discoveryBatchId",
        db_constraint=False,  # Kima's `DownloadJob_discoveryBatchId_fkey`, in migrations
        db_index=False,
        null=True,
        blank=True,
        related_name="jobs",
    )
    tried_releases = StringListField(
        db_column="triedReleases", null=True, blank=True, default=list, db_default=EmptyTextArray()
    )
    release_index = models.IntegerField(db_column="releaseIndex", default=0, db_default=0)
    artist_mbid = models.TextField(db_column="artistMbid", null=True, blank=True)
    cleared = models.BooleanField(default=False, db_default=False)

    class Meta:
        db_table = "DownloadJob"
        constraints = [
            models.UniqueConstraint(
                fields=["correlation_id"], name="DownloadJob_correlationId_key"
            ),
            # One active job per user, album and batch. Coalesce makes a missing MBID or
            # batch count as a value, so NULLs cannot slip past (they are distinct in SQL).
            models.UniqueConstraint(
                "user",
                Coalesce("target_mbid", Value("")),
                Coalesce("discovery_batch_id", Value("")),
                condition=Q(status__in=["pending", "processing"]),
                name="DownloadJob_active_album_key",
            ),
        ]
        indexes = [
            models.Index(fields=["correlation_id"], name="DownloadJob_correlationId_idx"),
            models.Index(fields=["user", "status"], name="DownloadJob_userId_status_idx"),
            models.Index(fields=["status"], name="DownloadJob_status_idx"),
            models.Index(fields=["discovery_batch"], name="DownloadJob_discoveryBatchId_idx"),
            models.Index(fields=["started_at"], name="DownloadJob_startedAt_idx"),
            models.Index(fields=["lidarr_ref"], name="DownloadJob_lidarrRef_idx"),
            models.Index(fields=["artist_mbid"], name="DownloadJob_artistMbid_idx"),
            models.Index(fields=["target_mbid"], name="DownloadJob_targetMbid_idx"),
        ]

    def __str__(self) -> str:
        return self.subject


class Notification(models.Model):
    id = KimaIdField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        db_column="userId",
        db_constraint=False,  # Kima's `Notification_userId_fkey`, created in migrations
        db_index=False,
        related_name="notifications",
    )
    type = models.TextField()
    title = models.TextField()
    message = models.TextField(null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    read = models.BooleanField(default=False, db_default=False)
    cleared = models.BooleanField(default=False, db_default=False)
    created_at = KimaDateTimeField(
        db_column="createdAt", default=timezone.now, db_default=CurrentTimestamp()
    )

    class Meta:
        db_table = "Notification"
        indexes = [
            models.Index(fields=["created_at"], name="Notification_createdAt_idx"),
            models.Index(fields=["user", "cleared"], name="Notification_userId_cleared_idx"),
            models.Index(fields=["user", "read"], name="Notification_userId_read_idx"),
        ]

    def __str__(self) -> str:
        return self.title
