"""Re-sync with Lidarr (every two minutes, and at once on ImportFailure). Lidarr never
retries a webhook, so its queue, history and library are the truth:

- a queue record whose import is blocked or failed, for one of our jobs: the release
  counts as failed (once; idempotent by downloadId) and is removed with blocklist, so
  Lidarr searches for another;
- a job Lidarr is working on whose Grab webhook was lost: linked from the queue;
- a job whose Download webhook was lost: completed when the album has files in Lidarr;
- a grabbed job whose download Lidarr recorded as failed: counted as a failed release.

When Lidarr cannot be reached nothing changes: the state is unknown, not failed.
"""

from __future__ import annotations

import logging

from django.db import transaction

from downloads import services as jobs
from downloads.models import JobStatus
from downloads.services import AlbumRef, normalize_download_id
from kima.clients.lidarr import IntegrationError, LidarrClient
from settings_app import services as settings_service

logger = logging.getLogger(__name__)

FAILED_IMPORT_STATES = {"importblocked", "importfailed"}
FAILED_HISTORY = {"downloadFailed", "albumImportIncomplete"}


def failed_import_reason(record: dict) -> str:
    messages = []
    for status in record.get("statusMessages") or []:
        messages += [str(m) for m in status.get("messages") or []]
    return "; ".join(messages)[:500] or f"Lidarr import {record.get('trackedDownloadState')}"


def reconcile_queue() -> dict[str, int]:
    current = settings_service.effective()
    counts = {"checked": 0, "failed_imports": 0, "removed": 0, "linked": 0, "completed": 0}
    if not (current.lidarr_active and current.lidarr_api_key):
        return counts
    try:
        with LidarrClient(current.lidarr_url, current.lidarr_api_key) as lidarr:
            records = lidarr.queue()
            counts["checked"] = len(records)
            _failed_imports(lidarr, records, current, counts)
            _lost_webhooks(lidarr, records, current, counts)
    except IntegrationError as error:
        logger.info("reconciliation skipped: Lidarr unavailable (%s)", error)
    return counts


def _failed_imports(lidarr: LidarrClient, records: list, current, counts: dict) -> None:
    failed = [r for r in records
              if str(r.get("trackedDownloadState", "")).lower() in FAILED_IMPORT_STATES]  # fmt: skip
    counts["failed_imports"] = len(failed)
    for record in failed:
        download_id = normalize_download_id(record.get("downloadId"))
        if not download_id:
            continue
        with transaction.atomic():
            touched = jobs.record_lidarr_failure(download_id, failed_import_reason(record),
                                                 max(1, current.download_retry_attempts))  # fmt: skip
        if touched:  # not ours: leave the operator's other downloads alone
            lidarr.remove_from_queue(record["id"], blocklist=True, skip_redownload=False)
            counts["removed"] += 1


def _lost_webhooks(lidarr: LidarrClient, records: list, current, counts: dict) -> None:
    by_album = {r.get("albumId"): r for r in records if r.get("albumId") is not None}
    waiting = jobs.active_jobs().filter(status=JobStatus.PROCESSING,
                                        metadata__currentSource="lidarr",
                                        lidarr_album_id__isnull=False)  # fmt: skip
    for job in list(waiting):
        record = by_album.get(job.lidarr_album_id)
        with transaction.atomic():
            if record is not None:
                download_id = normalize_download_id(record.get("downloadId"))
                state = str(record.get("trackedDownloadState", "")).lower()
                if (
                    download_id
                    and job.lidarr_ref != download_id
                    and state not in FAILED_IMPORT_STATES
                ):
                    ref = AlbumRef(lidarr_id=job.lidarr_album_id, mbid=job.target_mbid)
                    counts["linked"] += len(jobs.link_grab(download_id, ref, record.get("title")))
                continue
            album = lidarr.album(job.lidarr_album_id)
            if (album.get("statistics") or {}).get("trackFileCount", 0) > 0:
                ref = AlbumRef(lidarr_id=job.lidarr_album_id, mbid=job.target_mbid)
                done, _ = jobs.complete_import(job.lidarr_ref, ref, False, 0)
                counts["completed"] += len(done)
            elif job.lidarr_ref:
                history = lidarr.history_for(job.lidarr_ref)
                failures = [h for h in history if h.get("eventType") in FAILED_HISTORY]
                if failures:
                    reason = str((failures[0].get("data") or {}).get("message") or
                                 "Lidarr recorded the download as failed")  # fmt: skip
                    jobs.record_lidarr_failure(job.lidarr_ref, reason,
                                               max(1, current.download_retry_attempts))  # fmt: skip
