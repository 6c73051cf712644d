"""Kima's own Prometheus metrics and the /metrics and /api/metrics views.

Conventions: names start with `kima_`, values are in base units (seconds, bytes), and
label values come from fixed sets in code, never from request bodies. Request,
database and cache metrics come from django-prometheus (`kima_django_*`).

Several gunicorn workers: with PROMETHEUS_MULTIPROC_DIR set, every process writes its
samples to that directory and a scrape merges them (prometheus_client's multiprocess
mode), so counters add up across workers. Backlog gauges are read from the database at
scrape time, which also makes them right for work done in Celery worker containers.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator

import prometheus_client
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, Counter, multiprocess
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

CACHE_REQUESTS = Counter(
    "kima_cache_requests_total",
    "Named-cache operations by cache, operation and result (hit, miss, ok, error).",
    ["cache", "operation", "result"],
)
CELERY_TASKS_ABANDONED = Counter(
    "kima_celery_tasks_abandoned_total",
    "Task deliveries dropped because the same task was delivered too many times.",
    ["task"],
)
PERIODIC_RUNS = Counter(
    "kima_periodic_runs_total",
    "Periodic job runs by job and outcome (ran, skipped: another process had the slot).",
    ["job", "outcome"],
)


class BacklogCollector:
    """Gauges read at scrape time: download jobs by status, the webhook backlog, open
    Lidarr health issues, the Celery queue length in Redis."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            yield from self._database_gauges()
        except Exception as error:  # noqa: BLE001 - a scrape must not fail on one source
            logger.warning("metrics: database backlog unavailable: %s", error)
        yield from self._queue_gauges()

    def _database_gauges(self) -> Iterator[GaugeMetricFamily]:
        from django.db.models import Count

        from downloads.models import ACTIVE_JOB_STATUSES, DownloadJob, JobStatus
        from webhooks.models import LidarrHealthIssue, WebhookEvent

        jobs = GaugeMetricFamily(
            "kima_download_jobs", "Download jobs by status (not cleared).", labels=["status"]
        )
        counts = dict.fromkeys(JobStatus.values, 0)
        rows = DownloadJob.objects.filter(cleared=False).values_list("status")
        for status, total in rows.annotate(n=Count("id")).values_list("status", "n"):
            key = status if status in counts else "other"
            counts[key] = counts.get(key, 0) + total
        for status, total in sorted(counts.items()):
            jobs.add_metric([status], total)
        yield jobs
        active = GaugeMetricFamily(
            "kima_download_jobs_active",
            "Active download jobs by source (where they are being tried) and status.",
            labels=["source", "status"],
        )
        tally: dict[tuple[str, str], int] = {}
        rows = DownloadJob.objects.filter(status__in=ACTIVE_JOB_STATUSES)
        for source, status in rows.values_list("metadata__currentSource", "status"):
            key = (source if source in ("lidarr", "soulseek") else "none", status)
            tally[key] = tally.get(key, 0) + 1
        for source in ("lidarr", "soulseek", "none"):
            for status in ACTIVE_JOB_STATUSES:
                active.add_metric([source, status], tally.get((source, status), 0))
        yield active
        backlog = GaugeMetricFamily(
            "kima_webhook_events_backlog",
            "Stored webhook events not done yet, by status (dead: retries used up).",
            labels=["status"],
        )
        waiting = ["pending", "processing", "failed", "dead"]
        counts = dict.fromkeys(waiting, 0)
        rows = WebhookEvent.objects.filter(status__in=waiting).values_list("status")
        counts.update(dict(rows.annotate(n=Count("id")).values_list("status", "n")))
        for status in waiting:
            backlog.add_metric([status], counts[status])
        yield backlog
        yield GaugeMetricFamily(
            "kima_lidarr_health_issues",
            "Lidarr health checks currently failing, as reported by its Health webhooks.",
            value=LidarrHealthIssue.objects.filter(restored_at__isnull=True).count(),
        )

    def _queue_gauges(self) -> Iterator[GaugeMetricFamily]:
        from kima import redis_conn

        client = redis_conn.usable_client()
        if client is None:
            return
        try:
            length = client.llen("celery")
        except Exception as error:  # noqa: BLE001
            redis_conn.mark_failed(error, "queue length not reported")
            return
        yield GaugeMetricFamily(
            "kima_celery_queue_length", "Messages waiting in the Celery queue.", value=length
        )


def render_metrics() -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(prometheus_client.REGISTRY)
    registry.register(BacklogCollector())
    return prometheus_client.generate_latest(registry)


def _metrics_response() -> HttpResponse:
    return HttpResponse(render_metrics(), content_type=prometheus_client.CONTENT_TYPE_LATEST)


def _bearer_token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """/metrics: open by default (internal network); Bearer METRICS_TOKEN when set."""
    expected = settings.METRICS_TOKEN
    if expected and not hmac.compare_digest(_bearer_token(request).encode(), expected.encode()):
        response = JsonResponse({"error": "A valid metrics token is required"}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return _metrics_response()


@never_cache
@require_GET
def api_metrics_view(request: HttpRequest) -> HttpResponse:
    """/api/metrics (Kima's path): an authenticated admin only."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "Authentication required"}, status=401)
    if not request.user.is_staff:
        return JsonResponse({"error": "Admin access required"}, status=403)
    return _metrics_response()
