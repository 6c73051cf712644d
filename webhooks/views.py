"""Lidarr webhook intake at `/api/webhooks/lidarr` (Kima's path).

The view only authenticates, validates and commits the event (or spools it when the
database cannot take it); processing happens in Celery. It never waits for the broker or
Redis, never redirects (Lidarr turns a redirected POST into a body-less GET), and
answers every bad input with a 4xx and a message.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from kima.tasks import publish_in_background
from settings_app import services as settings_service
from webhooks import auth, metrics, services, spool
from webhooks.models import EventStatus
from webhooks.services import InvalidWebhook
from webhooks.tasks import process_event

logger = logging.getLogger(__name__)

# After the database failed, intake spools straight away for this long instead of
# paying a connection timeout per request.
_database_down_until = 0.0


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"success": False, "error": message}, status=status)


def _read_body(request: HttpRequest) -> bytes:
    declared = request.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > services.MAX_BODY_BYTES:
        raise InvalidWebhook(413, f"The body is larger than {services.MAX_BODY_BYTES} bytes")
    body = request.read(services.MAX_BODY_BYTES + 1)
    if len(body) > services.MAX_BODY_BYTES:
        raise InvalidWebhook(413, f"The body is larger than {services.MAX_BODY_BYTES} bytes")
    return body


@csrf_exempt
@never_cache
def lidarr_webhook(request: HttpRequest) -> JsonResponse:
    if request.method not in ("POST", "PUT"):
        return _error(405, "Send webhooks with POST or PUT")
    received_at = timezone.now()
    current = settings_service.effective_or_stale()
    if current is not None and not current.lidarr_enabled:
        return JsonResponse({"success": True, "ignored": True, "reason": "lidarr-disabled"},
                            status=202)  # fmt: skip
    if current is not None and auth.unreadable(current):
        logger.error("webhook refused: the stored webhook credentials cannot be decrypted")
        return _error(503, "The webhook credentials stored in the settings cannot be "
                      "decrypted; check SETTINGS_ENCRYPTION_KEY")  # fmt: skip
    if current is not None and not auth.is_authorized(request.headers, current):
        metrics.count("unknown", "rejected")
        return _error(401, "Unauthorized - invalid webhook credentials")
    try:
        payload = services.parse_body(_read_body(request))
    except InvalidWebhook as error:
        metrics.count("unknown", "invalid")
        return _error(error.status, error.message)
    if current is None:  # credentials unchecked: only the spool keeps them for checking
        return _spool(payload, received_at, request, verified=False, error="settings unreadable")
    label = services.event_type_label(payload["eventType"])
    try:
        stored = _store(payload, received_at)
    except (OperationalError, InterfaceError) as error:  # the database is away
        return _spool(payload, received_at, request, verified=True, error=error)
    except DatabaseError as error:  # the database is up and refused this body
        logger.warning("webhook body refused by the database: %s", error)
        metrics.count(label, "invalid")
        return _error(400, f"The body cannot be stored: {str(error).splitlines()[0][:200]}")
    if not stored.created:
        metrics.count(label, "duplicate")
        return JsonResponse({"success": True, "eventId": stored.id, "duplicate": True})
    if stored.status == EventStatus.IGNORED:
        metrics.count(label, "ignored")
        return JsonResponse({"success": True, "eventId": stored.id, "ignored": True})
    metrics.count(label, "accepted")
    publish_in_background(process_event, stored.id)
    return JsonResponse({"success": True, "eventId": stored.id})


def _store(payload: dict, received_at) -> services.Stored:
    global _database_down_until
    if time.monotonic() < _database_down_until:
        raise OperationalError("database marked unavailable after a recent failure")
    try:
        return services.store_event(payload, received_at)
    except (OperationalError, InterfaceError):
        _database_down_until = time.monotonic() + settings.WEBHOOK_DATABASE_RETRY_AFTER
        raise


def _spool(payload: dict, received_at, request: HttpRequest, verified: bool,
           error: Exception | str) -> JsonResponse:  # fmt: skip
    credentials = {"verified": True} if verified else auth.offered_digests(request.headers)
    try:
        spool.append(payload, received_at, credentials)
    except OSError as write_error:
        logger.error("webhook lost: database unavailable (%s) and the spool cannot be "
                     "written (%s)", error, write_error)  # fmt: skip
        return _error(503, "Neither the database nor the local spool can store the event")
    logger.warning("database unavailable (%s); %s event spooled", error, payload["eventType"])
    metrics.count(services.event_type_label(payload["eventType"]), "spooled")
    return JsonResponse({"success": True, "spooled": True})


@never_cache
def lidarr_verify(request: HttpRequest) -> JsonResponse:
    if request.method != "GET":
        return _error(405, "Use GET")
    return JsonResponse({"status": "ok", "timestamp": timezone.now().isoformat(),
                         "service": "kima", "version": settings.VERSION})  # fmt: skip
