"""Re-sync with Lidarr's queue. Lidarr never retries a webhook and ImportFailure events
carry no identifiers, so the queue is the truth about downloads whose import failed.

For each queue record whose import is blocked or failed and that belongs to one of our
jobs, the failed release is counted on the job (once: idempotent by downloadId) and the
record is removed with blocklist, so Lidarr searches for another release.
"""

from __future__ import annotations

import logging

from django.db import transaction

from downloads import services as jobs
from downloads.services import normalize_download_id
from kima.clients.lidarr import IntegrationError, LidarrClient
from settings_app import services as settings_service

logger = logging.getLogger(__name__)

FAILED_IMPORT_STATES = {"importblocked", "importfailed"}


def failed_import_reason(record: dict) -> str:
    messages = []
    for status in record.get("statusMessages") or []:
        messages += [str(m) for m in status.get("messages") or []]
    return "; ".join(messages)[:500] or f"Lidarr import {record.get('trackedDownloadState')}"


def reconcile_queue() -> dict[str, int]:
    current = settings_service.effective()
    if not (current.lidarr_active and current.lidarr_api_key):
        return {"checked": 0, "failed_imports": 0, "removed": 0}
    with LidarrClient(current.lidarr_url, current.lidarr_api_key) as lidarr:
        records = lidarr.queue()
        failed = [r for r in records
                  if str(r.get("trackedDownloadState", "")).lower() in FAILED_IMPORT_STATES]  # fmt: skip
        removed = 0
        for record in failed:
            download_id = normalize_download_id(record.get("downloadId"))
            if not download_id:
                continue
            with transaction.atomic():
                touched = jobs.record_lidarr_failure(
                    download_id, failed_import_reason(record),
                    max(1, current.download_retry_attempts),
                )  # fmt: skip
            if not touched:
                continue  # not ours: leave the operator's other downloads alone
            try:
                lidarr.remove_from_queue(record["id"], blocklist=True, skip_redownload=False)
                removed += 1
            except IntegrationError as error:
                logger.warning("could not remove queue item %s: %s", record.get("id"), error)
    return {"checked": len(records), "failed_imports": len(failed), "removed": removed}
