"""Kima databases as Kima's own (Prisma) migrations leave them, written from kima-schema.md.

`build(cursor, version)` creates the slice tables of Kima v1.4.3, v1.5.0 or v1.7.12,
plus an unrelated Kima table and Prisma's history table, and fills them with realistic
rows: users with Node-style bcrypt hashes, an API key, the settings row, download jobs
in every status (with the active duplicates each version allowed) and batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bcrypt

VERSIONS = ("1.4.3", "1.5.0", "1.7.12")

ADMIN_PASSWORD = "kima-admin-pass"
USER_PASSWORD = "listener-pass"


def node_bcrypt(password: str) -> str:
    """A hash as Node's bcryptjs writes it (`$2a$`, cost 10)."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    return "$2a$" + hashed[4:]


V143_DDL = [
    """CREATE TABLE "_prisma_migrations" (
        "id" VARCHAR(36) NOT NULL, "checksum" VARCHAR(64) NOT NULL,
        "finished_at" TIMESTAMPTZ, "migration_name" VARCHAR(255) NOT NULL,
        "logs" TEXT, "rolled_back_at" TIMESTAMPTZ,
        "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
        "applied_steps_count" INTEGER NOT NULL DEFAULT 0,
        CONSTRAINT "_prisma_migrations_pkey" PRIMARY KEY ("id"))""",
    """CREATE TABLE "User" (
        "id" TEXT NOT NULL, "username" TEXT NOT NULL, "passwordHash" TEXT NOT NULL,
        "role" TEXT NOT NULL DEFAULT 'user', "onboardingComplete" BOOLEAN NOT NULL DEFAULT false,
        "enrichmentSettings" JSONB, "twoFactorEnabled" BOOLEAN NOT NULL DEFAULT false,
        "twoFactorSecret" TEXT, "twoFactorRecoveryCodes" TEXT, "moodMixParams" JSONB,
        "tokenVersion" INTEGER NOT NULL DEFAULT 0,
        "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
        CONSTRAINT "User_pkey" PRIMARY KEY ("id"))""",
    'CREATE UNIQUE INDEX "User_username_key" ON "User"("username")',
    """CREATE TABLE "ApiKey" (
        "id" TEXT NOT NULL, "userId" TEXT NOT NULL, "key" TEXT NOT NULL, "name" TEXT NOT NULL,
        "lastUsed" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
        "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
        CONSTRAINT "ApiKey_pkey" PRIMARY KEY ("id"))""",
    'CREATE UNIQUE INDEX "ApiKey_key_key" ON "ApiKey"("key")',
    'CREATE INDEX "ApiKey_key_idx" ON "ApiKey"("key")',
    'CREATE INDEX "ApiKey_lastUsed_idx" ON "ApiKey"("lastUsed")',
    'CREATE INDEX "ApiKey_userId_idx" ON "ApiKey"("userId")',
    """CREATE TABLE "SystemSettings" (
        "id" TEXT NOT NULL DEFAULT 'default', "lidarrEnabled" BOOLEAN NOT NULL DEFAULT true,
        "lidarrUrl" TEXT DEFAULT 'http://localhost:8686', "lidarrApiKey" TEXT,
        "openaiEnabled" BOOLEAN NOT NULL DEFAULT false, "openaiApiKey" TEXT,
        "openaiModel" TEXT DEFAULT 'gpt-4', "openaiBaseUrl" TEXT,
        "fanartEnabled" BOOLEAN NOT NULL DEFAULT false, "fanartApiKey" TEXT,
        "audiobookshelfEnabled" BOOLEAN NOT NULL DEFAULT false,
        "audiobookshelfUrl" TEXT DEFAULT 'http://localhost:13378', "audiobookshelfApiKey" TEXT,
        "soulseekUsername" TEXT, "soulseekPassword" TEXT, "spotifyClientId" TEXT,
        "spotifyClientSecret" TEXT, "musicPath" TEXT DEFAULT '/music',
        "downloadPath" TEXT DEFAULT '/downloads', "autoSync" BOOLEAN NOT NULL DEFAULT true,
        "autoEnrichMetadata" BOOLEAN NOT NULL DEFAULT true,
        "maxConcurrentDownloads" INTEGER NOT NULL DEFAULT 3,
        "downloadRetryAttempts" INTEGER NOT NULL DEFAULT 3,
        "transcodeCacheMaxGb" INTEGER NOT NULL DEFAULT 10,
        "downloadSource" TEXT NOT NULL DEFAULT 'soulseek',
        "primaryFailureFallback" TEXT NOT NULL DEFAULT 'none',
        "updatedAt" TIMESTAMP(3) NOT NULL,
        "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
        "enrichmentConcurrency" INTEGER NOT NULL DEFAULT 1, "lidarrWebhookSecret" TEXT,
        "audioAnalyzerWorkers" INTEGER NOT NULL DEFAULT 2, "lastfmApiKey" TEXT,
        "soulseekConcurrentDownloads" INTEGER NOT NULL DEFAULT 4,
        "clapWorkers" INTEGER NOT NULL DEFAULT 2,
        CONSTRAINT "SystemSettings_pkey" PRIMARY KEY ("id"))""",
    """CREATE TABLE "DiscoveryBatch" (
        "id" TEXT NOT NULL, "userId" TEXT NOT NULL, "weekStart" TIMESTAMP(3) NOT NULL,
        "targetSongCount" INTEGER NOT NULL, "status" TEXT NOT NULL DEFAULT 'downloading',
        "totalAlbums" INTEGER NOT NULL DEFAULT 0, "completedAlbums" INTEGER NOT NULL DEFAULT 0,
        "failedAlbums" INTEGER NOT NULL DEFAULT 0, "finalSongCount" INTEGER NOT NULL DEFAULT 0,
        "logs" JSONB, "errorMessage" TEXT,
        "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
        "completedAt" TIMESTAMP(3),
        CONSTRAINT "DiscoveryBatch_pkey" PRIMARY KEY ("id"))""",
    'CREATE INDEX "DiscoveryBatch_createdAt_idx" ON "DiscoveryBatch"("createdAt")',
    'CREATE INDEX "DiscoveryBatch_status_idx" ON "DiscoveryBatch"("status")',
    'CREATE INDEX "DiscoveryBatch_userId_weekStart_idx" ON "DiscoveryBatch"("userId", "weekStart")',
    """CREATE TABLE "DownloadJob" (
        "id" TEXT NOT NULL, "correlationId" TEXT, "userId" TEXT NOT NULL,
        "subject" TEXT NOT NULL, "type" TEXT NOT NULL, "targetMbid" TEXT NOT NULL,
        "status" TEXT NOT NULL, "error" TEXT, "lidarrRef" TEXT, "lidarrAlbumId" INTEGER,
        "metadata" JSONB, "attempts" INTEGER NOT NULL DEFAULT 0, "startedAt" TIMESTAMP(3),
        "completedAt" TIMESTAMP(3), "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
        "updatedAt" TIMESTAMP(3) NOT NULL, "discoveryBatchId" TEXT,
        "triedReleases" TEXT[] DEFAULT ARRAY[]::TEXT[], "releaseIndex" INTEGER NOT NULL DEFAULT 0,
        "artistMbid" TEXT, "cleared" BOOLEAN NOT NULL DEFAULT false,
        CONSTRAINT "DownloadJob_pkey" PRIMARY KEY ("id"))""",
    'CREATE UNIQUE INDEX "DownloadJob_correlationId_key" ON "DownloadJob"("correlationId")',
    'CREATE INDEX "DownloadJob_correlationId_idx" ON "DownloadJob"("correlationId")',
    'CREATE INDEX "DownloadJob_userId_status_idx" ON "DownloadJob"("userId", "status")',
    'CREATE INDEX "DownloadJob_status_idx" ON "DownloadJob"("status")',
    'CREATE INDEX "DownloadJob_discoveryBatchId_idx" ON "DownloadJob"("discoveryBatchId")',
    'CREATE INDEX "DownloadJob_startedAt_idx" ON "DownloadJob"("startedAt")',
    'CREATE INDEX "DownloadJob_lidarrRef_idx" ON "DownloadJob"("lidarrRef")',
    'CREATE INDEX "DownloadJob_artistMbid_idx" ON "DownloadJob"("artistMbid")',
    'CREATE INDEX "DownloadJob_targetMbid_idx" ON "DownloadJob"("targetMbid")',
    """CREATE UNIQUE INDEX "DownloadJob_targetMbid_active_unique" ON "DownloadJob"("targetMbid")
        WHERE "status" IN ('pending', 'processing')""",
    """CREATE TABLE "Notification" (
        "id" TEXT NOT NULL, "userId" TEXT NOT NULL, "type" TEXT NOT NULL, "title" TEXT NOT NULL,
        "message" TEXT, "metadata" JSONB, "read" BOOLEAN NOT NULL DEFAULT false,
        "cleared" BOOLEAN NOT NULL DEFAULT false,
        "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
        CONSTRAINT "Notification_pkey" PRIMARY KEY ("id"))""",
    'CREATE INDEX "Notification_createdAt_idx" ON "Notification"("createdAt")',
    'CREATE INDEX "Notification_userId_cleared_idx" ON "Notification"("userId", "cleared")',
    'CREATE INDEX "Notification_userId_read_idx" ON "Notification"("userId", "read")',
    """CREATE TABLE "UnavailableAlbum" (
        "id" TEXT NOT NULL, "userId" TEXT NOT NULL, "artistName" TEXT NOT NULL,
        "albumTitle" TEXT NOT NULL, "albumMbid" TEXT NOT NULL, "artistMbid" TEXT,
        "similarity" DOUBLE PRECISION NOT NULL, "tier" TEXT NOT NULL,
        "weekStartDate" TIMESTAMP(3) NOT NULL, "previewUrl" TEXT, "deezerTrackId" TEXT,
        "deezerAlbumId" TEXT, "attemptNumber" INTEGER NOT NULL DEFAULT 0, "originalAlbumId" TEXT,
        "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
        CONSTRAINT "UnavailableAlbum_pkey" PRIMARY KEY ("id"))""",
    """ALTER TABLE "ApiKey" ADD CONSTRAINT "ApiKey_userId_fkey" FOREIGN KEY ("userId")
        REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE""",
    """ALTER TABLE "DownloadJob" ADD CONSTRAINT "DownloadJob_userId_fkey" FOREIGN KEY ("userId")
        REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE""",
    """ALTER TABLE "DownloadJob" ADD CONSTRAINT "DownloadJob_discoveryBatchId_fkey"
        FOREIGN KEY ("discoveryBatchId") REFERENCES "DiscoveryBatch"("id")
        ON DELETE SET NULL ON UPDATE CASCADE""",
    """ALTER TABLE "Notification" ADD CONSTRAINT "Notification_userId_fkey" FOREIGN KEY ("userId")
        REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE""",
]

# The four migrations of Kima's v1.5.0 release, as Kima wrote them (defects included).
V150_DDL = [
    'DROP INDEX "DownloadJob_targetMbid_active_unique"',
    """CREATE UNIQUE INDEX "DownloadJob_userId_targetMbid_discoveryBatchId_key"
        ON "DownloadJob"("userId", "targetMbid", "discoveryBatchId")
        WHERE "status" IN ('pending', 'downloading')""",
    """CREATE TABLE "WebhookEvent" (
        "id" TEXT NOT NULL, "eventId" TEXT NOT NULL, "source" TEXT NOT NULL,
        "eventType" TEXT NOT NULL, "payload" JSONB NOT NULL,
        "processed" BOOLEAN NOT NULL DEFAULT false, "processedAt" TIMESTAMP(3),
        "correlationId" TEXT, "error" TEXT, "retryCount" INTEGER NOT NULL DEFAULT 0,
        "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
        CONSTRAINT "WebhookEvent_pkey" PRIMARY KEY ("id"))""",
    'CREATE UNIQUE INDEX "WebhookEvent_eventId_key" ON "WebhookEvent"("eventId")',
    'CREATE INDEX "WebhookEvent_source_eventType_idx" ON "WebhookEvent"("source", "eventType")',
    'CREATE INDEX "WebhookEvent_processed_idx" ON "WebhookEvent"("processed")',
    'CREATE INDEX "WebhookEvent_correlationId_idx" ON "WebhookEvent"("correlationId")',
    'CREATE INDEX "WebhookEvent_createdAt_idx" ON "WebhookEvent"("createdAt")',
    'ALTER TABLE "DiscoveryBatch" ADD COLUMN "version" INTEGER NOT NULL DEFAULT 0',
    'ALTER TABLE "SystemSettings" ADD COLUMN "soulseekEnabled" BOOLEAN',
    'ALTER TABLE "SystemSettings" ADD COLUMN "soulseekDownloadPath" TEXT',
    'ALTER TABLE "SystemSettings" ADD COLUMN "lastfmApiSecret" TEXT',
    'ALTER TABLE "SystemSettings" ADD COLUMN "lastfmUserKey" TEXT',
    'ALTER TABLE "SystemSettings" ADD COLUMN "lastfmEnabled" BOOLEAN',
    """UPDATE "SystemSettings" SET "soulseekEnabled" = true
        WHERE "soulseekUsername" IS NOT NULL AND "soulseekUsername" <> ''""",
]

# Columns other parts of Kima own: they must survive, and are not part of our models.
OTHER_KIMA_COLUMNS = {("User", "listeningPrefs")}

V1712_DDL = [
    # A column of another part of Kima that the slice does not model.
    """ALTER TABLE "User" ADD COLUMN "listeningPrefs" JSONB NOT NULL DEFAULT '{}'::jsonb""",
    'ALTER TABLE "DownloadJob" ALTER COLUMN "targetMbid" DROP NOT NULL',
    'ALTER TABLE "SystemSettings" ADD COLUMN "publicUrl" TEXT',
    'ALTER TABLE "SystemSettings" ADD COLUMN "registrationOpen" BOOLEAN NOT NULL DEFAULT false',
    'ALTER TABLE "SystemSettings" ADD COLUMN "lidarrQualityProfileId" INTEGER',
    'ALTER TABLE "SystemSettings" ADD COLUMN "lidarrMetadataProfileId" INTEGER',
]


@dataclass
class LegacyRows:
    """What `build` inserted, so tests can check that every row survived."""

    version: str
    users: dict[str, str] = field(default_factory=dict)  # username -> id
    job_ids: list[str] = field(default_factory=list)
    batch_ids: list[str] = field(default_factory=list)
    duplicate_job_ids: list[str] = field(default_factory=list)  # expected to be closed
    kept_job_ids: list[str] = field(default_factory=list)  # newest of each duplicate group
    api_key: str = "kima_test_api_key_0123456789"
    counts: dict[str, int] = field(default_factory=dict)


def build(cursor, version: str) -> LegacyRows:
    assert version in VERSIONS, version
    for statement in V143_DDL:
        cursor.execute(statement)
    cursor.execute(
        """INSERT INTO "_prisma_migrations" (id, checksum, migration_name, finished_at,
           applied_steps_count) VALUES ('m1', 'x', '20251130000000_init', now(), 1)"""
    )
    rows = LegacyRows(version)
    _insert_v143_rows(cursor, rows)
    if version in ("1.5.0", "1.7.12"):
        for statement in V150_DDL:
            cursor.execute(statement)
        _insert_v150_rows(cursor, rows)
    if version == "1.7.12":
        for statement in V1712_DDL:
            cursor.execute(statement)
        _insert_v1712_rows(cursor, rows)
    for table in ("User", "ApiKey", "SystemSettings", "DownloadJob", "DiscoveryBatch",
                  "Notification", "UnavailableAlbum"):  # fmt: skip
        cursor.execute(f'SELECT count(*) FROM "{table}"')
        rows.counts[table] = cursor.fetchone()[0]
    return rows


def _job(cursor, rows: LegacyRows, job_id: str, user: str, status: str, mbid: str | None,
         batch: str | None = None, created: str = "2026-01-01 10:00:00") -> None:  # fmt: skip
    cursor.execute(
        """INSERT INTO "DownloadJob" (id, "userId", subject, type, "targetMbid", status,
           "createdAt", "updatedAt", "discoveryBatchId", "triedReleases", "metadata")
           VALUES (%s, %s, %s, 'album', %s, %s, %s, %s, %s, %s, %s)""",
        [job_id, rows.users[user], f"Artist - Album {job_id}", mbid, status, created, created,
         batch, ["release-1"] if status == "failed" else [], '{"artistName": "Ø Artist"}'],
    )  # fmt: skip
    rows.job_ids.append(job_id)


def _insert_v143_rows(cursor, rows: LegacyRows) -> None:
    for user_id, username, password, role in (
        ("ckadmin0000000000000000001", "admin", ADMIN_PASSWORD, "admin"),
        ("cklisten000000000000000002", "listener", USER_PASSWORD, "user"),
    ):
        cursor.execute(
            """INSERT INTO "User" (id, username, "passwordHash", role, "onboardingComplete")
               VALUES (%s, %s, %s, %s, true)""",
            [user_id, username, node_bcrypt(password), role],
        )
        rows.users[username] = user_id
    cursor.execute(
        """INSERT INTO "ApiKey" (id, "userId", key, name) VALUES ('ckapikey00000000000000001', %s,
           %s, 'phone')""",
        [rows.users["listener"], rows.api_key],
    )
    cursor.execute(
        """INSERT INTO "SystemSettings" (id, "lidarrUrl", "lidarrApiKey", "soulseekUsername",
           "updatedAt") VALUES ('default', 'http://lidarr:8686', 'a1b2:c3d4', 'slsk-user', now())"""
    )
    cursor.execute(
        """INSERT INTO "DiscoveryBatch" (id, "userId", "weekStart", "targetSongCount", status,
           "totalAlbums") VALUES ('ckbatch0000000000000000001', %s, '2026-01-05', 40,
           'downloading', 3)""",
        [rows.users["listener"]],
    )
    rows.batch_ids.append("ckbatch0000000000000000001")
    batch = rows.batch_ids[0]
    for index, status in enumerate(("pending", "processing", "completed", "failed", "exhausted")):
        _job(cursor, rows, f"ckjob143{status:0<17}"[:25], "listener", status, f"mbid-{index}")
    _job(cursor, rows, "ckjob143batch000000000001", "listener", "pending", "mbid-b1", batch)
    # v1.4.3's index is global: the same album as another user's *finished* job is fine.
    _job(cursor, rows, "ckjob143admin000000000001", "admin", "completed", "mbid-0")
    cursor.execute(
        """INSERT INTO "Notification" (id, "userId", type, title) VALUES
           ('cknotif000000000000000001', %s, 'download_complete', 'Album ready')""",
        [rows.users["listener"]],
    )
    cursor.execute(
        """INSERT INTO "UnavailableAlbum" (id, "userId", "artistName", "albumTitle", "albumMbid",
           similarity, tier, "weekStartDate") VALUES ('ckunavail0000000000000001', %s, 'A', 'B',
           'mbid-x', 0.5, 'medium', '2026-01-05')""",
        [rows.users["listener"]],
    )


def _insert_v150_rows(cursor, rows: LegacyRows) -> None:
    """Duplicates the v1.5.0 index let through: no batch (NULLs are distinct), `processing`."""
    _job(cursor, rows, "ckdup150old00000000000001", "listener", "pending", "mbid-dup", None,
         "2026-02-01 10:00:00")  # fmt: skip
    _job(cursor, rows, "ckdup150new00000000000001", "listener", "pending", "mbid-dup", None,
         "2026-02-02 10:00:00")  # fmt: skip
    batch = rows.batch_ids[0]
    _job(cursor, rows, "ckdup150old00000000000002", "listener", "processing", "mbid-b2", batch,
         "2026-02-01 10:00:00")  # fmt: skip
    _job(cursor, rows, "ckdup150new00000000000002", "listener", "pending", "mbid-b2", batch,
         "2026-02-03 10:00:00")  # fmt: skip
    # Another user asking for the same album is not a duplicate.
    _job(cursor, rows, "ckdup150admin000000000001", "admin", "pending", "mbid-dup")
    rows.duplicate_job_ids += ["ckdup150old00000000000001", "ckdup150old00000000000002"]
    rows.kept_job_ids += ["ckdup150new00000000000001", "ckdup150new00000000000002"]
    cursor.execute(
        """INSERT INTO "WebhookEvent" (id, "eventId", source, "eventType", payload, processed)
           VALUES ('ckevent000000000000000001', 'lidarr-Grab-abc', 'lidarr', 'Grab',
           '{"eventType": "Grab"}', true)"""
    )


def _insert_v1712_rows(cursor, rows: LegacyRows) -> None:
    """Direct Soulseek downloads without an MBID, twice: also a duplicate."""
    _job(cursor, rows, "ckdup1712old0000000000001", "admin", "processing", None, None,
         "2026-03-01 10:00:00")  # fmt: skip
    _job(cursor, rows, "ckdup1712new0000000000001", "admin", "pending", None, None,
         "2026-03-02 10:00:00")  # fmt: skip
    rows.duplicate_job_ids.append("ckdup1712old0000000000001")
    rows.kept_job_ids.append("ckdup1712new0000000000001")
    cursor.execute(
        """UPDATE "SystemSettings" SET "publicUrl" = 'https://kima.example.org',
           "lidarrQualityProfileId" = 2"""
    )
