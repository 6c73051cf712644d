"""State changes of download jobs, in one place (webhook handlers, API views, admin
actions and tasks all call these).

Lifecycle: pending -> processing -> completed | failed | exhausted. "Cancelled" is a
failure with that reason. A finished job never moves again (a PostgreSQL/SQLite trigger
refuses it too); a retry is a new job, and the old one is cleared, as Kima does.

Every transition is a conditional write (it only applies from the states it is allowed
from), records when the job entered its state and a human-readable status text, and on
finishing writes the job's one notification and refreshes its discovery batch. All
functions are idempotent: applying the same fact twice changes nothing the second time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from downloads import metrics
from downloads.models import (
    ACTIVE_JOB_STATUSES,
    DiscoveryBatch,
    DownloadJob,
    JobStatus,
    JobType,
    Notification,
)
from kima.db import JSONMerge

logger = logging.getLogger(__name__)

FINISHED_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.EXHAUSTED)
ALLOWED_FROM = {
    JobStatus.PROCESSING: (JobStatus.PENDING,),
    JobStatus.COMPLETED: ACTIVE_JOB_STATUSES,
    JobStatus.FAILED: ACTIVE_JOB_STATUSES,
    JobStatus.EXHAUSTED: ACTIVE_JOB_STATUSES,
}
CANCELLED = "Cancelled by user"


class TransitionNotAllowed(Exception):
    """The job is not in a state this change may start from (API: 409)."""

    def __init__(self, job: DownloadJob, wanted: str) -> None:
        super().__init__(f"A {job.status} download cannot become {wanted}")
        self.job = job


@dataclass(frozen=True)
class AlbumRef:
    """How Lidarr names an album in an event: its id, release-group MBID, title, artist."""

    lidarr_id: int | None = None
    mbid: str | None = None
    title: str | None = None
    artist: str | None = None


def normalize_download_id(value: Any) -> str | None:
    """Lidarr's downloadId as we store it: trimmed, upper-case (torrent hashes arrive
    upper-case from some clients and lower-case from others)."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    return text.upper() or None


def active_jobs() -> QuerySet[DownloadJob]:
    return DownloadJob.objects.filter(status__in=ACTIVE_JOB_STATUSES)


def _now_iso() -> str:
    return timezone.now().isoformat()


def _present(**values: Any) -> dict[str, Any]:
    """Metadata changes that only set keys (a None would remove the key)."""
    return {key: value for key, value in values.items() if value is not None}


def update_active(job: DownloadJob, changes: dict[str, Any], **fields: Any) -> bool:
    """Merge `changes` into an active job's metadata (None removes a key) and set
    `fields`, in one UPDATE that other writers' keys survive. False if the job is no
    longer active. `job` is updated in memory as well."""
    updated = (
        active_jobs()
        .filter(pk=job.pk)
        .update(metadata=JSONMerge("metadata", changes), updated_at=timezone.now(), **fields)
    )
    if updated:
        _merge_in_memory(job, changes, fields)
    return bool(updated)


def _merge_in_memory(job: DownloadJob, changes: dict[str, Any], fields: dict[str, Any]) -> None:
    metadata = {**(job.metadata or {}), **changes}
    job.metadata = {key: value for key, value in metadata.items() if value is not None}
    for name, value in fields.items():
        setattr(job, name, value)


def progress_percent(job: DownloadJob) -> int | None:
    """Progress from the stored counters: bytes when known, else tracks."""
    metadata = job.metadata or {}
    if job.status == JobStatus.COMPLETED:
        return 100
    for done_key, total_key in (("bytesDone", "bytesTotal"), ("tracksDone", "tracksTotal")):
        done, total = metadata.get(done_key), metadata.get(total_key)
        if isinstance(done, (int, float)) and isinstance(total, (int, float)) and total > 0:
            return max(0, min(100, int(done * 100 / total)))
    return None


# ---------------------------------------------------------------------------
# Creating jobs
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AlbumRequest:
    mbid: str
    subject: str
    artist_name: str | None = None
    album_title: str | None = None
    download_type: str = "library"
    batch_id: str | None = None


def request_album(user: Any, request: AlbumRequest) -> tuple[DownloadJob, bool]:
    """The user's active job for this album and batch, or a new one: (job, created).

    The database's unique index on active jobs (user, album, batch) is what makes this
    safe under concurrency: a second insert fails and we return the winner's job."""
    for _ in range(5):
        existing = _active_job_for(user, request)
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                job = DownloadJob.objects.create(
                    user=user, subject=request.subject, type=JobType.ALBUM,
                    target_mbid=request.mbid, status=JobStatus.PENDING,
                    discovery_batch_id=request.batch_id,
                    metadata={"artistName": request.artist_name, "albumTitle": request.album_title,
                              "albumMbid": request.mbid, "downloadType": request.download_type,
                              "statusText": "Waiting to start", "stateSince": _now_iso()},
                )  # fmt: skip
        except IntegrityError:
            continue  # someone else created it a moment ago: return theirs
        _acquire_soon(job)
        return job, True
    raise RuntimeError("could not create or find the download job")  # pragma: no cover


def _acquire_soon(job: DownloadJob) -> None:
    from downloads.tasks import acquire_job
    from kima.tasks import publish_in_background

    transaction.on_commit(lambda: publish_in_background(acquire_job, job.pk))


def _offer_pending(limit: int = 5) -> None:
    """A slot just freed up: offer the oldest waiting jobs to acquisition now rather than
    at the dispatcher's next round, as many as there are free slots (at most `limit`)."""
    from downloads.tasks import acquire_job
    from kima.tasks import publish_in_background
    from settings_app import services as settings_service

    running = DownloadJob.objects.filter(status=JobStatus.PROCESSING).count()
    free = min(limit, settings_service.effective().max_concurrent_downloads - running)
    waiting = DownloadJob.objects.filter(status=JobStatus.PENDING).order_by("created_at")
    for job_id in waiting.values_list("id", flat=True)[: max(0, free)]:
        publish_in_background(acquire_job, job_id)


def _active_job_for(user: Any, request: AlbumRequest) -> DownloadJob | None:
    return (
        active_jobs()
        .filter(user=user, target_mbid=request.mbid, discovery_batch_id=request.batch_id)
        .first()
    )


def retry(job: DownloadJob) -> DownloadJob:
    """A finished-unsuccessfully job gets a new attempt: the old one is cleared and a new
    pending job for the same album is created (or the active one returned)."""
    if job.status not in (JobStatus.FAILED, JobStatus.EXHAUSTED):
        raise TransitionNotAllowed(job, "retried")
    metadata = job.metadata or {}
    with transaction.atomic():
        DownloadJob.objects.filter(pk=job.pk).update(cleared=True, updated_at=timezone.now())
        new_job, _ = request_album(job.user, AlbumRequest(
            mbid=job.target_mbid or f"retry-{job.pk}", subject=job.subject,
            artist_name=metadata.get("artistName"), album_title=metadata.get("albumTitle"),
            download_type=metadata.get("downloadType", "library"),
            batch_id=job.discovery_batch_id,
        ))  # fmt: skip
        DownloadJob.objects.filter(pk=new_job.pk).update(
            artist_mbid=job.artist_mbid,
            metadata=JSONMerge("metadata", {"retryOf": job.pk}),
        )
    new_job.refresh_from_db()
    return new_job


# ---------------------------------------------------------------------------
# Transitions
# ---------------------------------------------------------------------------


def transition(job: DownloadJob, status: str, status_text: str,
               changes: dict[str, Any] | None = None, unchanged_since: datetime | None = None,
               **fields: Any) -> bool:  # fmt: skip
    """Move `job` to `status` if its current state allows it; False if it did not.
    `changes` are merged into the job's metadata (see `update_active`), with
    `statusText` and `stateSince`. With `unchanged_since` (the `updated_at` the caller
    judged), only if nothing wrote to the job since."""
    now = timezone.now()
    metadata = JSONMerge("metadata", {**(changes or {}), "statusText": status_text,
                                      "stateSince": now.isoformat()})  # fmt: skip
    if status in FINISHED_STATUSES:
        fields.setdefault("completed_at", now)
    if status == JobStatus.PROCESSING:
        fields.setdefault("started_at", job.started_at or now)
    # One transaction: a job never finishes without its notification and batch count.
    with transaction.atomic():
        query = DownloadJob.objects.filter(pk=job.pk, status__in=ALLOWED_FROM[status])
        if unchanged_since is not None:
            query = query.filter(updated_at=unchanged_since)
        updated = query.update(status=status, metadata=metadata, updated_at=now, **fields)
        if not updated:
            return False
        job.refresh_from_db()
        if status in FINISHED_STATUSES:
            _after_finish(job)
    return True


def _after_finish(job: DownloadJob) -> None:
    _notify(job)
    metrics.record_finished(job)
    transaction.on_commit(_offer_pending)
    if job.discovery_batch_id:
        from downloads import batches

        # In this transaction: the recount sees this job's new state, and a concurrent
        # finisher's recount is forced to retry by the version check (see batches).
        batches.refresh(job.discovery_batch_id)


def _notify(job: DownloadJob) -> None:
    """The job's one notification. A finished job never finishes again (conditional
    transition + trigger), so this runs once per job."""
    if job.status == JobStatus.COMPLETED:
        kind, title = "download_complete", "Download Complete"
        message = f"{job.subject} has been downloaded and added to your library"
    else:
        kind, title = "download_failed", "Download Failed"
        message = f"Failed to download {job.subject}: {job.error or 'unknown reason'}"
    Notification.objects.create(user_id=job.user_id, type=kind, title=title, message=message,
                                metadata={"jobId": job.pk, "subject": job.subject,
                                          "error": job.error})  # fmt: skip


def start(job: DownloadJob, source: str, **metadata: Any) -> bool:
    return transition(job, JobStatus.PROCESSING, f"Searching via {source}",
                      _present(currentSource=source, **metadata))  # fmt: skip


def complete(job: DownloadJob, **metadata: Any) -> bool:
    return transition(job, JobStatus.COMPLETED, "Downloaded", _present(**metadata), error=None)


def fail(job: DownloadJob, reason: str, unchanged_since: datetime | None = None,
         **metadata: Any) -> bool:  # fmt: skip
    return transition(job, JobStatus.FAILED, f"Failed: {reason}"[:300],
                      _present(failedAt=_now_iso(), **metadata), unchanged_since,
                      error=reason)  # fmt: skip


def exhaust(job: DownloadJob, reason: str, **metadata: Any) -> bool:
    return transition(job, JobStatus.EXHAUSTED, "No sources left",
                      _present(failedAt=_now_iso(), **metadata), error=reason)  # fmt: skip


def cancel(job: DownloadJob, reason: str = CANCELLED) -> None:
    if not fail(job, reason, cancelled=True):
        raise TransitionNotAllowed(job, "cancelled")


def record_attempt(job: DownloadJob, tried: str, reason: str, retry_limit: int,
                   exhaust_at_limit: bool = True, source: str | None = None) -> bool:  # fmt: skip
    """A source attempt failed (a Lidarr release, a Soulseek folder). Remember what was
    tried so it is never tried again; after `retry_limit` attempts of the current source
    the job is exhausted (unless the caller hands it to another source instead).
    False if this attempt was already recorded (a replay)."""
    tried_list = list(job.tried_releases or [])
    if tried in tried_list:
        return False
    attempts = job.attempts + 1
    source = source or (job.metadata or {}).get("currentSource") or "unknown"
    per_source = dict((job.metadata or {}).get("sourceAttempts") or {})
    per_source[source] = per_source.get(source, 0) + 1
    changes = {"lastError": reason, "lastFailureAt": _now_iso(), "sourceAttempts": per_source,
               "statusText": f"{source.capitalize()} attempt {per_source[source]} "
               f"failed: {reason}"[:300]}  # fmt: skip
    # Conditional on the attempt count read above: of two concurrent reports one wins.
    updated = active_jobs().filter(pk=job.pk, attempts=job.attempts).update(
        attempts=attempts, tried_releases=[*tried_list, tried], error=reason,
        metadata=JSONMerge("metadata", changes),
        lidarr_ref=None if job.lidarr_ref == tried else job.lidarr_ref, updated_at=timezone.now(),
    )  # fmt: skip
    if not updated:
        return False
    job.refresh_from_db()
    if exhaust_at_limit and per_source[source] >= retry_limit:
        exhaust(job, f"Gave up after {attempts} failed attempts: {reason}")
    return True


def source_attempts(job: DownloadJob, source: str) -> int:
    return int(((job.metadata or {}).get("sourceAttempts") or {}).get(source, 0))


def record_progress(job: DownloadJob, tracks_done: int | None = None,
                    tracks_total: int | None = None, bytes_done: int | None = None,
                    bytes_total: int | None = None) -> None:  # fmt: skip
    update_active(job, _present(tracksDone=tracks_done, tracksTotal=tracks_total,
                                bytesDone=bytes_done, bytesTotal=bytes_total,
                                progressAt=_now_iso()))  # fmt: skip


def clear(job: DownloadJob) -> None:
    DownloadJob.objects.filter(pk=job.pk).update(cleared=True, updated_at=timezone.now())


def delete(job: DownloadJob) -> None:
    if job.status in ACTIVE_JOB_STATUSES:
        raise TransitionNotAllowed(job, "deleted while active (cancel it first)")
    DownloadJob.objects.filter(pk=job.pk).delete()


def delete_finished(jobs: QuerySet[DownloadJob]) -> tuple[int, int]:
    """Delete the finished ones among `jobs`; active ones are kept. (deleted, kept)."""
    kept = jobs.filter(status__in=ACTIVE_JOB_STATUSES).count()
    deleted, _ = jobs.filter(status__in=FINISHED_STATUSES).delete()
    return deleted, kept


def purge_finished(older_than: datetime) -> int:
    """Retention: finished jobs that finished before `older_than`. Never active ones."""
    old = Q(completed_at__lt=older_than) | Q(completed_at__isnull=True, updated_at__lt=older_than)
    deleted, _ = DownloadJob.objects.filter(old, status__in=FINISHED_STATUSES).delete()
    return deleted


# ---------------------------------------------------------------------------
# Lidarr facts (webhook handlers and queue reconciliation)
# ---------------------------------------------------------------------------


def jobs_for_album(album: AlbumRef, queryset: QuerySet[DownloadJob] | None = None) -> list:
    """Active jobs for `album`, by the most specific identifier that finds any: Lidarr's
    album id, then the release-group MBID, then artist and title."""
    jobs = active_jobs() if queryset is None else queryset
    strategies = []
    if album.lidarr_id is not None:
        strategies.append(Q(lidarr_album_id=album.lidarr_id))
    if album.mbid:
        strategies.append(Q(target_mbid__iexact=album.mbid) | Q(metadata__lidarrMbid=album.mbid))
    if album.title and album.artist:
        strategies.append(
            Q(metadata__albumTitle__iexact=album.title.strip())
            & Q(metadata__artistName__iexact=album.artist.strip())
        )
    for condition in strategies:
        found = list(jobs.filter(condition).select_for_update().order_by("created_at"))
        if found:
            return found
    return []


def link_grab(download_id: str, album: AlbumRef, release_title: str | None) -> list[str]:
    """A Grab: Lidarr handed a release for `album` to a download client."""
    linked = []
    for job in jobs_for_album(album):
        if (job.metadata or {}).get("currentSource") == "soulseek":
            continue  # handed to Soulseek after Lidarr gave up: Lidarr's late grabs are not ours
        if job.lidarr_ref == download_id:
            linked.append(job.id)  # already linked: a replay
            continue
        earlier = [
            *(job.tried_releases or []),
            *(job.metadata or {}).get("previousDownloadIds", []),
        ]
        if download_id in earlier:
            continue  # a late or replayed Grab of a release that already failed
        changes = _present(downloadId=download_id, grabbedAt=_now_iso(), currentSource="lidarr",
                           releaseTitle=release_title, lidarrMbid=album.mbid)  # fmt: skip
        if job.lidarr_ref:  # an earlier release failed; Lidarr picked another one
            previous = list((job.metadata or {}).get("previousDownloadIds") or [])
            changes["previousDownloadIds"] = [*previous, job.lidarr_ref]
        fields = {"lidarr_ref": download_id, "target_mbid": job.target_mbid or album.mbid,
                  "lidarr_album_id": album.lidarr_id if album.lidarr_id is not None
                  else job.lidarr_album_id}  # fmt: skip
        text = f"Downloading via Lidarr: {release_title or download_id}"[:300]
        if job.status == JobStatus.PENDING:  # Lidarr grabbed before acquisition started it
            if not (job.metadata or {}).get("sources"):
                changes.update(sources=_planned_sources(job), sourcesTried=[])
            moved = transition(job, JobStatus.PROCESSING, text, changes, **fields)
        else:
            moved = update_active(job, {**changes, "statusText": text}, **fields)
        if moved:
            linked.append(job.id)
    return linked


def _planned_sources(job: DownloadJob) -> list[str]:
    """The job's source plan, so a failing Lidarr release can still fall back."""
    from downloads import acquisition
    from settings_app import services as settings_service

    return acquisition.plan(settings_service.effective(), True) or ["lidarr"]


def complete_import(download_id: str | None, album: AlbumRef, is_upgrade: bool,
                    track_count: int) -> tuple[list[str], bool]:  # fmt: skip
    """A Download: Lidarr imported `album`. Returns (completed job ids, already_done)."""
    candidates = []
    if download_id:
        candidates = list(active_jobs().filter(lidarr_ref=download_id).select_for_update())
        if album.lidarr_id is not None:  # one release may cover several albums
            candidates = [j for j in candidates if j.lidarr_album_id in (None, album.lidarr_id)]
    if not candidates:
        candidates = jobs_for_album(album)
    if not candidates and download_id:
        done = DownloadJob.objects.filter(status=JobStatus.COMPLETED, lidarr_ref=download_id)
        if album.lidarr_id is not None:
            done = done.filter(lidarr_album_id=album.lidarr_id)
        finished = [job.id for job in done]
        if finished:
            return finished, True
    completed = []
    for job in candidates:
        changes = _present(downloadId=download_id, importedAt=_now_iso(),
                           tracksImported=track_count, isUpgrade=is_upgrade or None)  # fmt: skip
        fields = {"lidarr_ref": download_id or job.lidarr_ref,
                  "lidarr_album_id": job.lidarr_album_id or album.lidarr_id}  # fmt: skip
        if transition(job, JobStatus.COMPLETED, "Imported by Lidarr", changes, error=None,
                      **fields):  # fmt: skip
            completed.append(job.id)
    return completed, False


def record_lidarr_failure(download_id: str, reason: str, retry_limit: int) -> list[str]:
    """A failed Lidarr release (DownloadFailure, or a blocked import found in the queue):
    count the attempt and remember the release. Lidarr blocklists it and searches again,
    so the job waits for the next Grab; after `retry_limit` failed releases it is
    exhausted."""
    from downloads import acquisition

    touched = []
    for job in active_jobs().filter(lidarr_ref=download_id).select_for_update():
        if (job.metadata or {}).get("currentSource") == "soulseek":
            continue
        if record_attempt(job, download_id, reason, retry_limit, exhaust_at_limit=False,
                          source="lidarr"):  # fmt: skip
            job.refresh_from_db()
            if source_attempts(job, "lidarr") >= retry_limit:
                acquisition.source_failed(job, f"Lidarr: {reason}")
        touched.append(job.id)
    return touched


def cancel_for_deleted_album(album: AlbumRef) -> list[str]:
    """AlbumDelete: the album is gone from Lidarr, so its active jobs cannot finish."""
    cancelled = []
    for job in jobs_for_album(AlbumRef(lidarr_id=album.lidarr_id, mbid=album.mbid)):
        if fail(job, "Cancelled: the album was deleted in Lidarr", cancelled=True):
            cancelled.append(job.id)
    return cancelled


def user_batch(user: Any, batch_id: str) -> DiscoveryBatch | None:
    return DiscoveryBatch.objects.filter(pk=batch_id, user=user).first()
