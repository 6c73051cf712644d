"""Health endpoints.

- `/livez`: the process answers; touches nothing (container HEALTHCHECK).
- `/health` and `/api/health` (Kima's paths): database, Redis, broker, version and
  uptime. 200 while the database answers (Redis down is "degraded"), 503 when it does not.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from kima import STARTED
from kima.redis_conn import redis_client


def check_database() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # noqa: BLE001 - any failure is "down", reported not raised
        connection.close()
        return {"status": "down", "error": type(error).__name__}
    return {"status": "up", "vendor": connection.vendor, "latencyMs": _ms_since(started)}


def check_redis() -> dict[str, Any]:
    client = redis_client()
    if client is None:
        return {"status": "not_configured"}
    started = time.perf_counter()
    try:
        client.ping()
    except Exception as error:  # noqa: BLE001
        return {"status": "down", "error": type(error).__name__}
    return {"status": "up", "latencyMs": _ms_since(started)}


def integrations() -> dict[str, Any]:
    """Lidarr's side: open health issues it reported, and whether webhooks are protected."""
    from settings_app import services as settings_service
    from webhooks.models import LidarrHealthIssue

    try:
        current = settings_service.effective()
        issues = list(
            LidarrHealthIssue.objects.filter(restored_at__isnull=True).values(
                "check_type", "level", "message"
            )[:20]
        )
    except Exception as error:  # noqa: BLE001 - health reports, it does not fail
        return {"lidarr": {"status": "unknown", "error": type(error).__name__}}
    lidarr: dict[str, Any] = {"enabled": bool(current.lidarr_enabled), "healthIssues": issues}
    if current.lidarr_enabled and not current.webhook_auth_configured:
        lidarr["warning"] = "webhooks are accepted without authentication"
    return {"lidarr": lidarr}


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


@never_cache
@require_GET
def livez(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    db = check_database()
    redis = check_redis()
    # The broker is the same Redis; without REDIS_URL tasks run in-process.
    broker = {"status": "embedded"} if redis["status"] == "not_configured" else dict(redis)
    if db["status"] != "up":
        status, code = "error", 503
    elif redis["status"] == "down":
        status, code = "degraded", 200
    else:
        status, code = "ok", 200
    body = {
        "status": status,
        **(integrations() if db["status"] == "up" else {}),
        "db": db,
        "redis": redis,
        "broker": broker,
        "version": settings.VERSION,
        "uptime": round(time.monotonic() - STARTED, 1),
    }
    return JsonResponse(body, status=code)
