"""Kima v1.5.0's one-active-download rule, fixed.

Kima v1.4.3 had a global unique index on `targetMbid` for active jobs (one user could
block another); v1.5.0 replaced it with (userId, targetMbid, discoveryBatchId) over the
statuses `pending` and `downloading`, but Kima never writes `downloading` and NULLs
are distinct, so jobs without a batch were never deduplicated. This migration drops
both and enforces one active (`pending`/`processing`) job per user, album and batch,
with a missing MBID or batch counting as a value.

Databases may already hold duplicates that Kima allowed. Nothing is deleted: in each
group the newest active job stays, the others become `failed` with an explanation.
"""

import sys

from django.db import migrations, models
from django.db.models.functions import Coalesce
from django.utils import timezone

import kima.migration_ops

ACTIVE = ["pending", "processing"]


def fail_duplicate_active_jobs(apps, schema_editor):
    DownloadJob = apps.get_model("downloads", "DownloadJob")
    jobs = DownloadJob.objects.using(schema_editor.connection.alias)
    newest_first = jobs.filter(status__in=ACTIVE).order_by("-created_at", "-id")
    keeper_of = {}
    duplicates = []
    for job in newest_first.values("id", "user_id", "target_mbid", "discovery_batch_id"):
        key = (job["user_id"], job["target_mbid"] or "", job["discovery_batch_id"] or "")
        if key in keeper_of:
            duplicates.append((job["id"], keeper_of[key]))
        else:
            keeper_of[key] = job["id"]
    now = timezone.now()
    for duplicate_id, keeper_id in duplicates:
        jobs.filter(id=duplicate_id).update(
            status="failed",
            error=f"Duplicate of active job {keeper_id}; closed during upgrade (newest kept)",
            completed_at=now,
            updated_at=now,
        )
        sys.stdout.write(
            f"[MIGRATE] DownloadJob {duplicate_id}: duplicate of active job {keeper_id}, "
            "marked failed\n"
        )
    if duplicates:
        sys.stdout.write(f"[MIGRATE] closed {len(duplicates)} duplicate active download job(s)\n")


class Migration(migrations.Migration):
    dependencies = [("downloads", "0002_v1_5_0_discoverybatch_version")]

    operations = [
        migrations.RemoveConstraint(
            model_name="downloadjob",
            name="DownloadJob_targetMbid_active_unique",
        ),
        kima.migration_ops.DropIndexIfExists(
            table="DownloadJob", name="DownloadJob_userId_targetMbid_discoveryBatchId_key"
        ),
        kima.migration_ops.IdempotentRunPython(fail_duplicate_active_jobs),
        migrations.AddConstraint(
            model_name="downloadjob",
            constraint=models.UniqueConstraint(
                models.F("user"),
                Coalesce("target_mbid", models.Value("")),
                Coalesce("discovery_batch_id", models.Value("")),
                condition=models.Q(("status__in", ACTIVE)),
                name="DownloadJob_active_album_key",
            ),
        ),
    ]
