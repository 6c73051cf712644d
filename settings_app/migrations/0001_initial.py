"""Kima v1.4.3: the SystemSettings table as Prisma created it."""

import django.utils.timezone
from django.db import migrations, models

import kima.db


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="SystemSettings",
            fields=[
                (
                    "id",
                    kima.db.KimaIdField(
                        db_default="default",
                        default="default",
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                (
                    "lidarr_enabled",
                    models.BooleanField(db_column="lidarrEnabled", db_default=True, default=True),
                ),
                (
                    "lidarr_url",
                    models.TextField(
                        blank=True,
                        db_column="lidarrUrl",
                        db_default="http://localhost:8686",
                        default="http://localhost:8686",
                        null=True,
                    ),
                ),
                (
                    "lidarr_api_key",
                    models.TextField(blank=True, db_column="lidarrApiKey", null=True),
                ),
                (
                    "openai_enabled",
                    models.BooleanField(db_column="openaiEnabled", db_default=False, default=False),
                ),
                (
                    "openai_api_key",
                    models.TextField(blank=True, db_column="openaiApiKey", null=True),
                ),
                (
                    "openai_model",
                    models.TextField(
                        blank=True,
                        db_column="openaiModel",
                        db_default="gpt-4",
                        default="gpt-4",
                        null=True,
                    ),
                ),
                (
                    "openai_base_url",
                    models.TextField(blank=True, db_column="openaiBaseUrl", null=True),
                ),
                (
                    "fanart_enabled",
                    models.BooleanField(db_column="fanartEnabled", db_default=False, default=False),
                ),
                (
                    "fanart_api_key",
                    models.TextField(blank=True, db_column="fanartApiKey", null=True),
                ),
                (
                    "audiobookshelf_enabled",
                    models.BooleanField(
                        db_column="audiobookshelfEnabled", db_default=False, default=False
                    ),
                ),
                (
                    "audiobookshelf_url",
                    models.TextField(
                        blank=True,
                        db_column="audiobookshelfUrl",
                        db_default="http://localhost:13378",
                        default="http://localhost:13378",
                        null=True,
                    ),
                ),
                (
                    "audiobookshelf_api_key",
                    models.TextField(blank=True, db_column="audiobookshelfApiKey", null=True),
                ),
                (
                    "soulseek_username",
                    models.TextField(blank=True, db_column="soulseekUsername", null=True),
                ),
                (
                    "soulseek_password",
                    models.TextField(blank=True, db_column="soulseekPassword", null=True),
                ),
                (
                    "spotify_client_id",
                    models.TextField(blank=True, db_column="spotifyClientId", null=True),
                ),
                (
                    "spotify_client_secret",
                    models.TextField(blank=True, db_column="spotifyClientSecret", null=True),
                ),
                (
                    "music_path",
                    models.TextField(
                        blank=True,
                        db_column="musicPath",
                        db_default="/music",
                        default="/music",
                        null=True,
                    ),
                ),
                (
                    "download_path",
                    models.TextField(
                        blank=True,
                        db_column="downloadPath",
                        db_default="/downloads",
                        default="/downloads",
                        null=True,
                    ),
                ),
                (
                    "auto_sync",
                    models.BooleanField(db_column="autoSync", db_default=True, default=True),
                ),
                (
                    "auto_enrich_metadata",
                    models.BooleanField(
                        db_column="autoEnrichMetadata", db_default=True, default=True
                    ),
                ),
                (
                    "max_concurrent_downloads",
                    models.IntegerField(
                        db_column="maxConcurrentDownloads", db_default=3, default=3
                    ),
                ),
                (
                    "download_retry_attempts",
                    models.IntegerField(db_column="downloadRetryAttempts", db_default=3, default=3),
                ),
                (
                    "transcode_cache_max_gb",
                    models.IntegerField(db_column="transcodeCacheMaxGb", db_default=10, default=10),
                ),
                (
                    "download_source",
                    models.TextField(
                        choices=[("soulseek", "Soulseek"), ("lidarr", "Lidarr")],
                        db_column="downloadSource",
                        db_default="soulseek",
                        default="soulseek",
                    ),
                ),
                (
                    "primary_failure_fallback",
                    models.TextField(
                        choices=[("none", "None"), ("lidarr", "Lidarr"), ("soulseek", "Soulseek")],
                        db_column="primaryFailureFallback",
                        db_default="none",
                        default="none",
                    ),
                ),
                ("updated_at", kima.db.KimaDateTimeField(auto_now=True, db_column="updatedAt")),
                (
                    "created_at",
                    kima.db.KimaDateTimeField(
                        db_column="createdAt",
                        db_default=kima.db.CurrentTimestamp(),
                        default=django.utils.timezone.now,
                    ),
                ),
                (
                    "enrichment_concurrency",
                    models.IntegerField(db_column="enrichmentConcurrency", db_default=1, default=1),
                ),
                (
                    "lidarr_webhook_secret",
                    models.TextField(blank=True, db_column="lidarrWebhookSecret", null=True),
                ),
                (
                    "audio_analyzer_workers",
                    models.IntegerField(db_column="audioAnalyzerWorkers", db_default=2, default=2),
                ),
                (
                    "lastfm_api_key",
                    models.TextField(blank=True, db_column="lastfmApiKey", null=True),
                ),
                (
                    "soulseek_concurrent_downloads",
                    models.IntegerField(
                        db_column="soulseekConcurrentDownloads", db_default=4, default=4
                    ),
                ),
                (
                    "clap_workers",
                    models.IntegerField(db_column="clapWorkers", db_default=2, default=2),
                ),
            ],
            options={
                "verbose_name": "system settings",
                "verbose_name_plural": "system settings",
                "db_table": "SystemSettings",
            },
        ),
    ]
