"""Kima v1.4.3: DiscoveryBatch, DownloadJob and Notification as Prisma created them."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import kima.db
import kima.migration_ops


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="DiscoveryBatch",
            fields=[
                (
                    "id",
                    kima.db.KimaIdField(
                        default=kima.db.new_cuid, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("week_start", kima.db.KimaDateTimeField(db_column="weekStart")),
                ("target_song_count", models.IntegerField(db_column="targetSongCount")),
                (
                    "status",
                    models.TextField(
                        choices=[
                            ("downloading", "Downloading"),
                            ("scanning", "Scanning"),
                            ("completed", "Completed"),
                            ("failed", "Failed"),
                        ],
                        db_default="downloading",
                        default="downloading",
                    ),
                ),
                (
                    "total_albums",
                    models.IntegerField(db_column="totalAlbums", db_default=0, default=0),
                ),
                (
                    "completed_albums",
                    models.IntegerField(db_column="completedAlbums", db_default=0, default=0),
                ),
                (
                    "failed_albums",
                    models.IntegerField(db_column="failedAlbums", db_default=0, default=0),
                ),
                (
                    "final_song_count",
                    models.IntegerField(db_column="finalSongCount", db_default=0, default=0),
                ),
                ("logs", models.JSONField(blank=True, null=True)),
                (
                    "error_message",
                    models.TextField(blank=True, db_column="errorMessage", null=True),
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
                    "completed_at",
                    kima.db.KimaDateTimeField(blank=True, db_column="completedAt", null=True),
                ),
                (
                    "user",
                    models.ForeignKey(
                        db_column="userId",
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="discovery_batches",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "discovery batches",
                "db_table": "DiscoveryBatch",
            },
        ),
        migrations.CreateModel(
            name="DownloadJob",
            fields=[
                (
                    "id",
                    kima.db.KimaIdField(
                        default=kima.db.new_cuid, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "correlation_id",
                    kima.db.UniqueTextField(blank=True, db_column="correlationId", null=True),
                ),
                ("subject", models.TextField()),
                (
                    "type",
                    models.TextField(
                        choices=[
                            ("album", "Album"),
                            ("track", "Track"),
                            ("soulseek-search", "Soulseek search"),
                        ]
                    ),
                ),
                ("target_mbid", models.TextField(db_column="targetMbid")),
                (
                    "status",
                    models.TextField(
                        choices=[
                            ("pending", "Pending"),
                            ("processing", "Processing"),
                            ("completed", "Completed"),
                            ("failed", "Failed"),
                            ("exhausted", "Exhausted"),
                        ]
                    ),
                ),
                ("error", models.TextField(blank=True, null=True)),
                ("lidarr_ref", models.TextField(blank=True, db_column="lidarrRef", null=True)),
                (
                    "lidarr_album_id",
                    models.IntegerField(blank=True, db_column="lidarrAlbumId", null=True),
                ),
                ("metadata", models.JSONField(blank=True, null=True)),
                ("attempts", models.IntegerField(db_default=0, default=0)),
                (
                    "started_at",
                    kima.db.KimaDateTimeField(blank=True, db_column="startedAt", null=True),
                ),
                (
                    "completed_at",
                    kima.db.KimaDateTimeField(blank=True, db_column="completedAt", null=True),
                ),
                (
                    "created_at",
                    kima.db.KimaDateTimeField(
                        db_column="createdAt",
                        db_default=kima.db.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                    ),
                ),
                ("updated_at", kima.db.KimaDateTimeField(auto_now=True, db_column="updatedAt")),
                (
                    "tried_releases",
                    kima.db.StringListField(
                        blank=True,
                        db_column="triedReleases",
                        db_default=kima.db.EmptyTextArray(),
                        default=list,
                        null=True,
                    ),
                ),
                (
                    "release_index",
                    models.IntegerField(db_column="releaseIndex", db_default=0, default=0),
                ),
                ("artist_mbid", models.TextField(blank=True, db_column="artistMbid", null=True)),
                ("cleared", models.BooleanField(db_default=False, default=False)),
                (
                    "discovery_batch",
                    models.ForeignKey(
                        blank=True,
                        db_column="discoveryBatchId",
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="jobs",
                        to="downloads.discoverybatch",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        db_column="userId",
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="download_jobs",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "db_table": "DownloadJob",
            },
        ),
        migrations.CreateModel(
            name="Notification",
            fields=[
                (
                    "id",
                    kima.db.KimaIdField(
                        default=kima.db.new_cuid, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("type", models.TextField()),
                ("title", models.TextField()),
                ("message", models.TextField(blank=True, null=True)),
                ("metadata", models.JSONField(blank=True, null=True)),
                ("read", models.BooleanField(db_default=False, default=False)),
                ("cleared", models.BooleanField(db_default=False, default=False)),
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
                        related_name="notifications",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "db_table": "Notification",
            },
        ),
        migrations.AddIndex(
            model_name="discoverybatch",
            index=models.Index(fields=["created_at"], name="DiscoveryBatch_createdAt_idx"),
        ),
        migrations.AddIndex(
            model_name="discoverybatch",
            index=models.Index(fields=["status"], name="DiscoveryBatch_status_idx"),
        ),
        migrations.AddIndex(
            model_name="discoverybatch",
            index=models.Index(
                fields=["user", "week_start"], name="DiscoveryBatch_userId_weekStart_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="downloadjob",
            index=models.Index(fields=["correlation_id"], name="DownloadJob_correlationId_idx"),
        ),
        migrations.AddIndex(
            model_name="downloadjob",
            index=models.Index(fields=["user", "status"], name="DownloadJob_userId_status_idx"),
        ),
        migrations.AddIndex(
            model_name="downloadjob",
            index=models.Index(fields=["status"], name="DownloadJob_status_idx"),
        ),
        migrations.AddIndex(
            model_name="downloadjob",
            index=models.Index(fields=["discovery_batch"], name="DownloadJob_discoveryBatchId_idx"),
        ),
        migrations.AddIndex(
            model_name="downloadjob",
            index=models.Index(fields=["started_at"], name="DownloadJob_startedAt_idx"),
        ),
        migrations.AddIndex(
            model_name="downloadjob",
            index=models.Index(fields=["lidarr_ref"], name="DownloadJob_lidarrRef_idx"),
        ),
        migrations.AddIndex(
            model_name="downloadjob",
            index=models.Index(fields=["artist_mbid"], name="DownloadJob_artistMbid_idx"),
        ),
        migrations.AddIndex(
            model_name="downloadjob",
            index=models.Index(fields=["target_mbid"], name="DownloadJob_targetMbid_idx"),
        ),
        migrations.AddConstraint(
            model_name="downloadjob",
            constraint=models.UniqueConstraint(
                fields=("correlation_id",), name="DownloadJob_correlationId_key"
            ),
        ),
        migrations.AddConstraint(
            model_name="downloadjob",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", ["pending", "processing"])),
                fields=("target_mbid",),
                name="DownloadJob_targetMbid_active_unique",
            ),
        ),
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(fields=["created_at"], name="Notification_createdAt_idx"),
        ),
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(fields=["user", "cleared"], name="Notification_userId_cleared_idx"),
        ),
        migrations.AddIndex(
            model_name="notification",
            index=models.Index(fields=["user", "read"], name="Notification_userId_read_idx"),
        ),
        kima.migration_ops.AddForeignKeySQL(table="DownloadJob", column="userId", ref_table="User"),
        kima.migration_ops.AddForeignKeySQL(
            table="DownloadJob",
            column="discoveryBatchId",
            ref_table="DiscoveryBatch",
            on_delete="SET NULL",
        ),
        kima.migration_ops.AddForeignKeySQL(
            table="Notification", column="userId", ref_table="User"
        ),
    ]
