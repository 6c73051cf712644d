"""Periodic download work. Each may run twice: the transitions are conditional."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from downloads import batches, services, stale
from kima.periodic import periodic_task


@periodic_task("downloads.stale_jobs")
def stale_jobs() -> dict:
    return stale.check()


@periodic_task("downloads.retention")
def retention() -> dict:
    now = timezone.now()
    jobs = services.purge_finished(now - timedelta(days=settings.DOWNLOAD_RETENTION_DAYS))
    old_batches = batches.purge_finished(now - timedelta(days=settings.BATCH_RETENTION_DAYS))
    return {"jobs": jobs, "batches": old_batches}
