"""Download job metrics. Source is where the job was last tried (lidarr, soulseek) or
"unknown"; status is a job status: both fixed sets."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from downloads.models import DownloadJob

SOURCES = ("lidarr", "soulseek")

FINISHED = Counter(
    "kima_download_jobs_total",
    "Download jobs that finished, by source and final status.",
    ["source", "status"],
)
DURATION = Histogram(
    "kima_download_job_duration_seconds",
    "Time from request to finish of download jobs.",
    ["source", "status"],
    buckets=(10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
)


def job_source(job: DownloadJob) -> str:
    source = (job.metadata or {}).get("currentSource")
    return source if source in SOURCES else "unknown"


def record_finished(job: DownloadJob) -> None:
    source = job_source(job)
    FINISHED.labels(source, job.status).inc()
    if job.completed_at and job.created_at:
        seconds = (job.completed_at - job.created_at).total_seconds()
        DURATION.labels(source, job.status).observe(max(0.0, seconds))
