"""Stale jobs, checked every minute. Each clock starts when the job entered its state
(`metadata.stateSince`, written by every transition), and each threshold is a setting:

- pending, never started: DOWNLOAD_PENDING_TIMEOUT_MINUTES (not jobs that acquisition
  saw and keeps waiting for a free slot: admission decides those);
- processing with nothing grabbed (Lidarr found no release; or a Soulseek job with no
  progress): DOWNLOAD_SEARCH_TIMEOUT_MINUTES (not while its source is unreachable and a
  retry is scheduled: an outage never fails a job);
- grabbed by Lidarr but not imported: DOWNLOAD_IMPORT_TIMEOUT_MINUTES. While Lidarr's
  queue still shows the download moving, the job is given more time, up to
  DOWNLOAD_MAX_EXTENSION_MINUTES in all. When Lidarr cannot be reached the state is
  unknown: nothing is failed, the next run looks again. When Lidarr is no longer
  configured at all, nothing will import them: they are judged as stuck.

A job that times out on a source with a fallback left moves to the fallback instead of
failing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from downloads import services
from downloads.models import DownloadJob, JobStatus
from kima.clients.lidarr import IntegrationError, LidarrClient
from settings_app import services as settings_service

logger = logging.getLogger(__name__)

MOVING_STATES = {"downloading", "importpending", "importing"}


def _since(job: DownloadJob, *keys: str) -> datetime:
    metadata = job.metadata or {}
    for key in keys:
        value = metadata.get(key)
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is not None:
            return parsed
    return job.started_at or job.created_at


def _minutes(name: str) -> timedelta:
    return timedelta(minutes=getattr(settings, name))


def lidarr_queue() -> dict[str, dict] | None:
    """Lidarr's queue by downloadId; None when Lidarr is not configured or unreachable."""
    current = settings_service.effective()
    if not (current.lidarr_active and current.lidarr_api_key):
        return {}  # Lidarr switched off: nothing of ours is moving there
    try:
        with LidarrClient(current.lidarr_url, current.lidarr_api_key) as lidarr:
            records = lidarr.queue()
    except IntegrationError as error:
        logger.info("stale check: Lidarr unreachable (%s); grabbed jobs left alone", error)
        return None
    return {services.normalize_download_id(r.get("downloadId")) or "": r for r in records}


def _moving(record: dict | None) -> bool:
    if record is None:
        return False
    state = str(record.get("trackedDownloadState", "")).lower()
    size, left = record.get("size") or 0, record.get("sizeleft")
    return state in MOVING_STATES and (left is None or left < size or state != "downloading")


def check(now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    failed = {"pending": 0, "searching": 0, "importing": 0, "extended": 0}
    for job in DownloadJob.objects.filter(status=JobStatus.PENDING):
        if (job.metadata or {}).get("sources"):
            continue  # acquisition planned it and admits it when a slot frees up
        if now - _since(job, "stateSince") > _minutes("DOWNLOAD_PENDING_TIMEOUT_MINUTES"):
            failed["pending"] += _fail(job, "Never started: no source picked it up in time")
    processing = list(DownloadJob.objects.filter(status=JobStatus.PROCESSING))
    for job in [j for j in processing if not j.lidarr_ref and not _waiting_for_retry(j)]:
        since = _since(job, "progressAt", "stateSince")
        if now - since > _minutes("DOWNLOAD_SEARCH_TIMEOUT_MINUTES"):
            failed["searching"] += _fail(job, "No release found in time")
    grabbed = [j for j in processing if j.lidarr_ref]
    old = [j for j in grabbed
           if now - _since(j, "grabbedAt") > _minutes("DOWNLOAD_IMPORT_TIMEOUT_MINUTES")]  # fmt: skip
    if old:
        queue = lidarr_queue()
        if queue is not None:
            for job in old:
                outcome = _judge_grabbed(job, queue.get(job.lidarr_ref), now)
                failed[outcome] = failed.get(outcome, 0) + 1
    return failed


def _judge_grabbed(job: DownloadJob, record: dict | None, now: datetime) -> str:
    waited = now - _since(job, "grabbedAt")
    limit = _minutes("DOWNLOAD_IMPORT_TIMEOUT_MINUTES") + _minutes("DOWNLOAD_MAX_EXTENSION_MINUTES")
    if _moving(record) and waited < limit:
        return "extended"
    minutes = int(waited.total_seconds() // 60)
    _fail(job, f"Stuck in Lidarr for {minutes} minutes without an import")
    return "importing"


def _waiting_for_retry(job: DownloadJob) -> bool:
    return bool((job.metadata or {}).get("retryAt"))


def _fail(job: DownloadJob, reason: str) -> int:
    """Fail `job`, or hand it to its fallback source when one is left."""
    from downloads import acquisition

    with transaction.atomic():
        if job.status == JobStatus.PROCESSING and acquisition.fallback_left(job):
            return int(acquisition.source_failed(job, reason))
        # Only as judged: a Grab or progress written since the job was read wins.
        return int(services.fail(job, reason, unchanged_since=job.updated_at,
                                 staleSince=_iso(job)))  # fmt: skip


def _iso(job: DownloadJob) -> Any:
    return (job.metadata or {}).get("stateSince")
