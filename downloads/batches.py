"""Discovery batches: creation with their jobs, exact counts, completion.

Every change to a batch row goes through `update_batch`, an optimistic update on
`version` (Kima's column) with an optional expected status. It retries on a version
conflict, reports a status mismatch distinctly (retrying cannot fix that), and every
caller acts on its result.

Counts are recomputed from the jobs on every refresh rather than incremented, so two
workers finishing jobs of one batch at the same moment cannot lose a count: the loser
of the version race recomputes after the winner committed.
"""

from __future__ import annotations

import enum
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from downloads import services
from downloads.models import BatchStatus, DiscoveryBatch, DownloadJob, JobStatus

logger = logging.getLogger(__name__)

ACTIVE_BATCH_STATUSES = (BatchStatus.DOWNLOADING, BatchStatus.SCANNING)


class UpdateOutcome(enum.Enum):
    UPDATED = "updated"
    STATUS_MISMATCH = "status_mismatch"  # the batch is not in the expected status
    CONFLICT = "conflict"  # the version kept moving: retries used up
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class BatchUpdate:
    outcome: UpdateOutcome
    version: int | None = None
    retries: int = 0
    status: str | None = None  # the batch's status when it did not match

    @property
    def ok(self) -> bool:
        return self.outcome is UpdateOutcome.UPDATED


def update_batch(batch_id: str, changes: dict[str, Any], expected_status: str | None = None,
                 compute: Any = None, max_retries: int = 10) -> BatchUpdate:  # fmt: skip
    """Apply `changes` (or, each attempt, `compute(batch)`'s result) if the batch's version
    did not move since it was read and its status is `expected_status` (when given)."""
    for attempt in range(max_retries + 1):
        batch = DiscoveryBatch.objects.filter(pk=batch_id).values("version", "status").first()
        if batch is None:
            return BatchUpdate(UpdateOutcome.NOT_FOUND, retries=attempt)
        if expected_status is not None and batch["status"] != expected_status:
            return BatchUpdate(UpdateOutcome.STATUS_MISMATCH, batch["version"], attempt,
                               batch["status"])  # fmt: skip
        values = compute(batch_id) if compute else changes
        guard = Q(pk=batch_id, version=batch["version"])
        if expected_status is not None:
            guard &= Q(status=expected_status)
        if DiscoveryBatch.objects.filter(guard).update(**values, version=F("version") + 1):
            return BatchUpdate(UpdateOutcome.UPDATED, batch["version"] + 1, attempt)
        time.sleep(random.uniform(0, 0.005 * min(attempt + 1, 10)))  # someone else won
    return BatchUpdate(UpdateOutcome.CONFLICT, retries=max_retries)


def counts(batch_id: str) -> dict[str, int]:
    rows = DownloadJob.objects.filter(discovery_batch_id=batch_id).values_list("status")
    by_status = dict(rows.annotate(n=Count("id")).values_list("status", "n"))
    completed = by_status.get(JobStatus.COMPLETED, 0)
    failed = by_status.get(JobStatus.FAILED, 0) + by_status.get(JobStatus.EXHAUSTED, 0)
    active = by_status.get(JobStatus.PENDING, 0) + by_status.get(JobStatus.PROCESSING, 0)
    return {"total": completed + failed + active, "completed": completed, "failed": failed,
            "active": active}  # fmt: skip


def _refreshed_values(batch_id: str) -> dict[str, Any]:
    tally = counts(batch_id)
    values: dict[str, Any] = {"completed_albums": tally["completed"],
                              "failed_albums": tally["failed"]}  # fmt: skip
    if tally["active"] == 0:
        finished_ok = tally["completed"] > 0
        values.update(status=BatchStatus.COMPLETED if finished_ok else BatchStatus.FAILED,
                      completed_at=timezone.now(),
                      error_message=None if finished_ok else "All downloads failed")  # fmt: skip
    return values


def refresh(batch_id: str) -> BatchUpdate:
    """Recount the batch's jobs; complete it (once) when every job has finished."""
    # Every concurrent finisher of this batch may win the version race before us, so
    # allow as many retries as there can be finishers; the periodic dispatcher recounts
    # active batches as well, should even that not suffice.
    result = update_batch(batch_id, {}, expected_status=BatchStatus.DOWNLOADING,
                          compute=_refreshed_values, max_retries=100)  # fmt: skip
    if result.outcome is UpdateOutcome.CONFLICT:
        logger.warning("batch %s: counts not refreshed after %d retries", batch_id, result.retries)
    return result


@dataclass(frozen=True)
class CreatedBatch:
    batch: DiscoveryBatch
    jobs: list[DownloadJob]
    skipped: list[str]  # album MBIDs the user already had an active job for


def create(user: Any, albums: list[dict[str, str]], target_song_count: int = 0,
           week_start: datetime | None = None) -> CreatedBatch:  # fmt: skip
    """A batch and one pending job per album, in one transaction. Albums the user
    already has an active job for are skipped (and not counted in `totalAlbums`)."""
    with transaction.atomic():
        batch = DiscoveryBatch.objects.create(
            user=user, week_start=week_start or _monday(timezone.now()),
            target_song_count=target_song_count, status=BatchStatus.DOWNLOADING,
            logs=[{"timestamp": timezone.now().isoformat(), "level": "info",
                   "message": f"Batch created with {len(albums)} album(s)"}],
        )  # fmt: skip
        jobs, skipped = [], []
        for album in albums:
            if services.active_jobs().filter(user=user, target_mbid=album["mbid"]).exists():
                skipped.append(album["mbid"])
                continue
            job, _ = services.request_album(user, services.AlbumRequest(
                mbid=album["mbid"], subject=album["subject"], artist_name=album.get("artistName"),
                album_title=album.get("albumTitle"), download_type="discovery",
                batch_id=batch.pk,
            ))  # fmt: skip
            jobs.append(job)
        DiscoveryBatch.objects.filter(pk=batch.pk).update(total_albums=len(jobs))
        batch.refresh_from_db()
    if not jobs:
        refresh(batch.pk)
        batch.refresh_from_db()
    return CreatedBatch(batch, jobs, skipped)


def _monday(moment: datetime) -> datetime:
    start = moment - timedelta(days=moment.weekday())
    return start.replace(hour=0, minute=0, second=0, microsecond=0)


def progress(batch: DiscoveryBatch) -> dict[str, Any]:
    tally = counts(batch.pk)
    done = tally["completed"] + tally["failed"]
    return {**tally, "percent": int(done * 100 / tally["total"]) if tally["total"] else 100}


def purge_finished(older_than: datetime) -> int:
    """Retention: completed batches that completed before `older_than` (their jobs stay,
    detached, as Kima's foreign key does)."""
    old = DiscoveryBatch.objects.filter(status=BatchStatus.COMPLETED, completed_at__lt=older_than)
    DownloadJob.objects.filter(discovery_batch__in=old).update(discovery_batch=None)
    deleted, _ = old.delete()
    return deleted


def refresh_active() -> int:
    """Safety net (dispatcher): recount every batch still downloading."""
    ids = list(DiscoveryBatch.objects.filter(status=BatchStatus.DOWNLOADING)
               .values_list("id", flat=True))  # fmt: skip
    for batch_id in ids:
        refresh(batch_id)
    return len(ids)
