"""State changes of download jobs, in one place (webhook handlers, API views, admin
actions and tasks all call these).

Every transition is a conditional write: a job moves only out of an active state
(pending, processing), so a late or replayed event can never reopen a finished job.
All functions here are idempotent: applying the same Lidarr fact twice changes nothing
the second time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from downloads.models import ACTIVE_JOB_STATUSES, DownloadJob, JobStatus

logger = logging.getLogger(__name__)


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


def _with_metadata(job: DownloadJob, **values: Any) -> dict:
    metadata = dict(job.metadata or {})
    metadata.update({k: v for k, v in values.items() if v is not None})
    return metadata


def _now_iso() -> str:
    return timezone.now().isoformat()


def link_grab(download_id: str, album: AlbumRef, release_title: str | None) -> list[str]:
    """A Grab: Lidarr handed a release for `album` to a download client."""
    linked = []
    for job in jobs_for_album(album):
        if job.lidarr_ref == download_id:
            linked.append(job.id)  # already linked: a replay
            continue
        metadata = _with_metadata(job, downloadId=download_id, grabbedAt=_now_iso(),
                                  currentSource="lidarr", releaseTitle=release_title,
                                  lidarrMbid=album.mbid)  # fmt: skip
        if job.lidarr_ref:  # an earlier release failed; Lidarr picked another one
            previous = list(metadata.get("previousDownloadIds") or [])
            metadata["previousDownloadIds"] = [*previous, job.lidarr_ref]
        updated = active_jobs().filter(pk=job.pk).update(
            status=JobStatus.PROCESSING, lidarr_ref=download_id,
            lidarr_album_id=album.lidarr_id if album.lidarr_id is not None else job.lidarr_album_id,
            target_mbid=job.target_mbid or album.mbid, metadata=metadata,
            started_at=job.started_at or timezone.now(), updated_at=timezone.now(),
        )  # fmt: skip
        if updated:
            linked.append(job.id)
    return linked


def complete_import(download_id: str | None, album: AlbumRef, is_upgrade: bool,
                    track_count: int) -> tuple[list[str], bool]:  # fmt: skip
    """A Download: Lidarr imported `album`. Returns (completed job ids, already_done)."""
    candidates = []
    if download_id:
        candidates = list(active_jobs().filter(lidarr_ref=download_id).select_for_update())
        if album.lidarr_id is not None and len(candidates) > 1:
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
        metadata = _with_metadata(job, downloadId=download_id, importedAt=_now_iso(),
                                  tracksImported=track_count, isUpgrade=is_upgrade or None)  # fmt: skip
        updated = active_jobs().filter(pk=job.pk).update(
            status=JobStatus.COMPLETED, completed_at=timezone.now(), error=None,
            lidarr_ref=download_id or job.lidarr_ref, metadata=metadata,
            lidarr_album_id=job.lidarr_album_id or album.lidarr_id, updated_at=timezone.now(),
        )  # fmt: skip
        if updated:
            completed.append(job.id)
    return completed, False


def record_lidarr_failure(download_id: str, reason: str, retry_limit: int) -> list[str]:
    """A failed Lidarr release (DownloadFailure, or a blocked import found in the queue):
    count the attempt and remember the release. Lidarr blocklists it and searches again,
    so the job waits for the next Grab; after `retry_limit` failed releases it fails."""
    touched = []
    for job in active_jobs().filter(lidarr_ref=download_id).select_for_update():
        tried = list(job.tried_releases or [])
        if download_id in tried:
            touched.append(job.id)  # this failure was already counted
            continue
        attempts = job.attempts + 1
        metadata = _with_metadata(job, lastError=reason, lastFailureAt=_now_iso(),
                                  statusText=f"Lidarr #{attempts + 1}")  # fmt: skip
        changes: dict[str, Any] = {"attempts": attempts, "tried_releases": [*tried, download_id],
                                   "lidarr_ref": None, "error": reason, "metadata": metadata,
                                   "updated_at": timezone.now()}  # fmt: skip
        if attempts >= retry_limit:
            changes.update(status=JobStatus.FAILED, completed_at=timezone.now(),
                           error=f"Gave up after {attempts} failed Lidarr releases: {reason}")  # fmt: skip
        if active_jobs().filter(pk=job.pk).update(**changes):
            touched.append(job.id)
    return touched


def cancel_for_deleted_album(album: AlbumRef) -> list[str]:
    """AlbumDelete: the album is gone from Lidarr, so its active jobs cannot finish."""
    cancelled = []
    for job in jobs_for_album(AlbumRef(lidarr_id=album.lidarr_id, mbid=album.mbid)):
        updated = active_jobs().filter(pk=job.pk).update(
            status=JobStatus.FAILED, completed_at=timezone.now(),
            error="Cancelled: the album was deleted in Lidarr", updated_at=timezone.now(),
        )  # fmt: skip
        if updated:
            cancelled.append(job.id)
    return cancelled
