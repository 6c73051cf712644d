"""Periodic download work. Each may run twice: the transitions are conditional."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from downloads import acquisition, batches, services, stale
from downloads.models import DownloadJob, JobStatus
from kima.periodic import periodic_task
from kima.tasks import publish_in_background


@periodic_task("downloads.stale_jobs")
def stale_jobs() -> dict:
    return stale.check()


@periodic_task("downloads.retention")
def retention() -> dict:
    now = timezone.now()
    jobs = services.purge_finished(now - timedelta(days=settings.DOWNLOAD_RETENTION_DAYS))
    old_batches = batches.purge_finished(now - timedelta(days=settings.BATCH_RETENTION_DAYS))
    return {"jobs": jobs, "batches": old_batches}


@shared_task(name="downloads.acquire", time_limit=3600, soft_time_limit=3500)
def acquire_job(job_id: str) -> str:
    return acquisition.acquire(job_id)


@periodic_task("downloads.dispatch")
def dispatch() -> int:
    """Offer pending jobs to acquisition (admission decides), and retry attempts whose
    source was unreachable once their wait is over. Offers go out from a thread: on the
    embedded default a task runs where it is published, and a Soulseek download must not
    hold up the scheduler's other jobs."""
    now = timezone.now()
    batches.refresh_active()
    offered = 0
    for job_id in (
        DownloadJob.objects.filter(status=JobStatus.PENDING)
        .order_by("created_at")
        .values_list("id", flat=True)[:200]
    ):
        publish_in_background(acquire_job, job_id)
        offered += 1
    for job in DownloadJob.objects.filter(
        status=JobStatus.PROCESSING, metadata__retryAt__isnull=False
    ):
        retry_at = parse_datetime(str((job.metadata or {}).get("retryAt") or ""))
        if retry_at is not None and retry_at <= now:
            publish_in_background(acquire_job, job.pk)
            offered += 1
    return offered


@shared_task(name="downloads.leave_lidarr")
def leave_lidarr(album_id: int) -> None:
    acquisition.leave_lidarr(album_id)
