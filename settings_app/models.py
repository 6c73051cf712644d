"""Kima's single-row `SystemSettings` table (`id = 'default'`)."""

from django.db import models
from django.utils import timezone

from kima.db import CurrentTimestamp, KimaDateTimeField, KimaIdField

SINGLETON_ID = "default"


class DownloadSource(models.TextChoices):
    SOULSEEK = "soulseek", "Soulseek"
    LIDARR = "lidarr", "Lidarr"


class FailureFallback(models.TextChoices):
    NONE = "none", "None"
    LIDARR = "lidarr", "Lidarr"
    SOULSEEK = "soulseek", "Soulseek"


def _text(column: str, default: str | None = None) -> models.TextField:
    """A nullable text column; Kima's defaults are database defaults."""
    if default is None:
        return models.TextField(db_column=column, null=True, blank=True)
    return models.TextField(
        db_column=column, null=True, blank=True, default=default, db_default=default
    )


def _flag(column: str, default: bool) -> models.BooleanField:
    return models.BooleanField(db_column=column, default=default, db_default=default)


def _number(column: str, default: int) -> models.IntegerField:
    return models.IntegerField(db_column=column, default=default, db_default=default)


class SystemSettings(models.Model):
    """Runtime integration settings, one row with id `default`.

    Precedence for every integration setting: a value stored here wins; an unset one
    (NULL or blank) falls back to its environment variable (Kima's names: LIDARR_URL,
    LIDARR_API_KEY, SLSKD_URL, SLSKD_API_KEY, ...; the table is
    `settings_app.services.FIELDS`); then to the default. Read the effective values with
    `settings_app.services.effective()` and change them with `services.update()`, never
    through this model: secrets are stored encrypted (`settings_app.crypto`).

    Every column Kima has is modelled so that a row created here is valid for all of
    Kima; most of them belong to other parts of Kima and are never read here.
    """

    id = KimaIdField(default=SINGLETON_ID, db_default=SINGLETON_ID)
    lidarr_enabled = _flag("lidarrEnabled", True)
    lidarr_url = _text("lidarrUrl", "http://localhost:8686")
    lidarr_api_key = _text("lidarrApiKey")
    openai_enabled = _flag("openaiEnabled", False)
    openai_api_key = _text("openaiApiKey")
    openai_model = _text("openaiModel", "gpt-4")
    openai_base_url = _text("openaiBaseUrl")
    fanart_enabled = _flag("fanartEnabled", False)
    fanart_api_key = _text("fanartApiKey")
    audiobookshelf_enabled = _flag("audiobookshelfEnabled", False)
    audiobookshelf_url = _text("audiobookshelfUrl", "http://localhost:13378")
    audiobookshelf_api_key = _text("audiobookshelfApiKey")
    soulseek_username = _text("soulseekUsername")
    soulseek_password = _text("soulseekPassword")
    spotify_client_id = _text("spotifyClientId")
    spotify_client_secret = _text("spotifyClientSecret")
    music_path = _text("musicPath", "/music")
    download_path = _text("downloadPath", "/downloads")
    auto_sync = _flag("autoSync", True)
    auto_enrich_metadata = _flag("autoEnrichMetadata", True)
    max_concurrent_downloads = _number("maxConcurrentDownloads", 3)
    download_retry_attempts = _number("downloadRetryAttempts", 3)
    transcode_cache_max_gb = _number("transcodeCacheMaxGb", 10)
    download_source = models.TextField(
        db_column="downloadSource",
        choices=DownloadSource.choices,
        default=DownloadSource.SOULSEEK,
        db_default=DownloadSource.SOULSEEK,
    )
    primary_failure_fallback = models.TextField(
        db_column="primaryFailureFallback",
        choices=FailureFallback.choices,
        default=FailureFallback.NONE,
        db_default=FailureFallback.NONE,
    )
    updated_at = KimaDateTimeField(db_column="updatedAt", auto_now=True)
    created_at = KimaDateTimeField(
        db_column="createdAt", default=timezone.now, db_default=CurrentTimestamp()
    )
    enrichment_concurrency = _number("enrichmentConcurrency", 1)
    lidarr_webhook_secret = _text("lidarrWebhookSecret")
    audio_analyzer_workers = _number("audioAnalyzerWorkers", 2)
    lastfm_api_key = _text("lastfmApiKey")
    soulseek_concurrent_downloads = _number("soulseekConcurrentDownloads", 4)
    clap_workers = _number("clapWorkers", 2)
    # v1.5.0
    soulseek_enabled = models.BooleanField(db_column="soulseekEnabled", null=True, blank=True)
    soulseek_download_path = _text("soulseekDownloadPath")
    lastfm_api_secret = _text("lastfmApiSecret")
    lastfm_user_key = _text("lastfmUserKey")
    lastfm_enabled = models.BooleanField(db_column="lastfmEnabled", null=True, blank=True)
    # v1.5.x – v1.7.12
    public_url = _text("publicUrl")
    registration_open = _flag("registrationOpen", False)
    lidarr_quality_profile_id = models.IntegerField(
        db_column="lidarrQualityProfileId", null=True, blank=True
    )
    lidarr_metadata_profile_id = models.IntegerField(
        db_column="lidarrMetadataProfileId", null=True, blank=True
    )

    # Ours (additive): slskd in place of Kima's in-process Soulseek client, and HTTP
    # Basic credentials for Lidarr's webhook connection.
    slskd_url = _text("slskdUrl")
    slskd_api_key = _text("slskdApiKey")
    lidarr_webhook_username = _text("lidarrWebhookUsername")
    lidarr_webhook_password = _text("lidarrWebhookPassword")

    class Meta:
        db_table = "SystemSettings"
        verbose_name = "system settings"
        verbose_name_plural = "system settings"

    def __str__(self) -> str:
        return "System settings"

    @classmethod
    def load(cls) -> "SystemSettings":
        """The settings row, created with Kima's defaults if it does not exist yet."""
        row, _ = cls.objects.get_or_create(id=SINGLETON_ID)
        return row
