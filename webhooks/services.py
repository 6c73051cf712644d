"""Lidarr webhook events: intake, exactly-once processing, retries, replay, purge.

Lifecycle of a `WebhookEvent` (status column):

    pending --claim--> processing --handler commits--> processed
                           |  \\--handler raised--> failed --(nextAttemptAt)--> processing
                           |                            \\--retries used up--> dead
                           \\--worker died: claim older than WEBHOOK_CLAIM_TIMEOUT--> reclaimed

Exactly once: a worker first claims the event (a conditional UPDATE; a second worker
finds nothing to claim). The handler's effects and the event's "processed" mark then
commit in one transaction that also re-checks the claim under a row lock, so a worker
killed at any point either applied everything or nothing, and a reclaimed event is
never applied twice. Handlers are idempotent as well, so a replay changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, When
from django.utils import timezone

from downloads.services import normalize_download_id
from kima.tasks import publish
from webhooks import metrics
from webhooks.models import EventStatus, WebhookEvent

logger = logging.getLogger(__name__)

SOURCE = "lidarr"
KNOWN_EVENT_TYPES = frozenset({
    "Test", "Grab", "Download", "DownloadFailure", "ImportFailure", "Rename", "Retag",
    "ArtistAdd", "ArtistDelete", "AlbumDelete", "Health", "HealthRestored", "ApplicationUpdate",
})  # fmt: skip
MAX_BODY_BYTES = 1024 * 1024
# Events that carry no identifiers: identical bodies within this window are one event.
NO_ID_WINDOW_SECONDS = 300
MAX_DEPTH = 64


class InvalidWebhook(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ---------------------------------------------------------------------------
# Intake
# ---------------------------------------------------------------------------


def parse_body(raw: bytes) -> dict[str, Any]:
    """The webhook body as a dict with a string `eventType`, or InvalidWebhook (4xx)."""
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidWebhook(413, f"The body is larger than {MAX_BODY_BYTES} bytes")
    try:
        payload = json.loads(raw.decode("utf-8-sig"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise InvalidWebhook(400, f"The body is not valid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise InvalidWebhook(400, "The body must be a JSON object")
    event_type = payload.get("eventType")
    if not isinstance(event_type, str) or not event_type.strip():
        raise InvalidWebhook(400, "eventType is missing or not a string")
    if _depth(payload) > MAX_DEPTH:
        raise InvalidWebhook(400, f"The body is nested deeper than {MAX_DEPTH} levels")
    try:  # jsonb refuses NUL, lone surrogates and 1e999 (read as inf); refuse them here
        canonical = json.dumps(payload, ensure_ascii=False, allow_nan=False)
        canonical.encode("utf-8")
    except (UnicodeEncodeError, ValueError) as error:
        raise InvalidWebhook(400, f"The body contains invalid text: {error}") from None
    if "\\u0000" in canonical or "\x00" in canonical:
        raise InvalidWebhook(400, "The body contains NUL characters")
    return payload


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def event_type_label(event_type: Any) -> str:
    """The event type as a metric label: Lidarr's own names, anything else "unknown"."""
    return event_type if event_type in KNOWN_EVENT_TYPES else "unknown"


def _album_ids(payload: dict) -> list[str]:
    albums = []
    if isinstance(payload.get("album"), dict):
        albums.append(payload["album"])
    if isinstance(payload.get("albums"), list):
        albums.extend(a for a in payload["albums"] if isinstance(a, dict))
    return sorted({str(a.get("id")) for a in albums if a.get("id") is not None})


def _hash(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def _bounded(text: str, limit: int = 200) -> str:
    """`text`, or its hash when longer than `limit` (keys live in a unique index)."""
    return text if len(text) <= limit else "h" + _hash(text)


def event_key(payload: dict, received_at: datetime) -> str:
    """Equal for a true redelivery, different for distinct events. Lidarr sends no id:
    - Grab: downloadId + album ids (a multi-album release is one Grab);
    - Download: downloadId + album id + the imported files (one Download per album of a
      release, all with the same downloadId; an upgrade imports other files);
    - DownloadFailure: downloadId;
    - anything without identifiers (ImportFailure, Health, Test, ...): a hash of the
      canonical body and the 5-minute window it arrived in.
    """
    event_type = payload["eventType"]
    label = event_type if event_type in KNOWN_EVENT_TYPES else "unknown-" + _hash(event_type)
    download_id = _bounded(normalize_download_id(payload.get("downloadId")) or "-")
    albums = _bounded(",".join(_album_ids(payload)))
    if event_type == "Grab" and download_id != "-":
        return f"lidarr:Grab:{download_id}:{albums}"
    if event_type == "Download" and (download_id != "-" or albums):
        files = payload.get("trackFiles") if isinstance(payload.get("trackFiles"), list) else []
        file_ids = sorted(str(f.get("id", f.get("path"))) for f in files if isinstance(f, dict))
        return f"lidarr:Download:{download_id}:{albums}:{_hash(file_ids)}"
    if event_type == "DownloadFailure" and download_id != "-":
        return f"lidarr:DownloadFailure:{download_id}"
    window = int(received_at.timestamp() // NO_ID_WINDOW_SECONDS)
    return f"lidarr:{label}:h{_hash(payload)}:w{window}"


@dataclass(frozen=True)
class Stored:
    id: str
    created: bool
    status: str


def store_event(payload: dict, received_at: datetime | None = None) -> Stored:
    """Commit the event (or find the one already stored under the same key)."""
    received_at = received_at or timezone.now()
    key = event_key(payload, received_at)
    event_type = str(payload["eventType"])[:200]
    known = event_type in KNOWN_EVENT_TYPES
    fields = {"event_id": key, "source": SOURCE, "event_type": event_type, "payload": payload,
              "created_at": received_at}  # fmt: skip
    if not known:
        fields.update(status=EventStatus.IGNORED, processed=True, processed_at=received_at,
                      outcome="ignored: not a Lidarr event type")  # fmt: skip
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(**fields)
    except IntegrityError:
        existing = WebhookEvent.objects.filter(event_id=key).values_list("id", "status").first()
        if existing is None:
            raise
        return Stored(existing[0], False, existing[1])
    return Stored(event.id, True, event.status)


# ---------------------------------------------------------------------------
# Processing
# ---------------------------------------------------------------------------


def _now() -> datetime:
    """Now, at the millisecond precision of Kima's timestamp(3) columns (claims are
    compared for equality)."""
    now = timezone.now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _due(now: datetime) -> Q:
    stale_claim = now - timedelta(seconds=settings.WEBHOOK_CLAIM_TIMEOUT)
    return (
        Q(status=EventStatus.PENDING)
        | Q(status=EventStatus.FAILED, next_attempt_at__isnull=True)
        | Q(status=EventStatus.FAILED, next_attempt_at__lte=now)
        | Q(status=EventStatus.PROCESSING, claimed_at__lt=stale_claim)
    )


def claim(event_id: str) -> datetime | None:
    """Take the event for processing; the returned claim time is the claim's token.

    Taking over a stale claim means the worker holding it died (killed, out of memory,
    over its time limit): that counts as a failed attempt, so an event that kills every
    worker ends `dead` after WEBHOOK_MAX_RETRIES instead of being retried for ever."""
    now = _now()
    last_chance = Q(status=EventStatus.PROCESSING,
                    retry_count__gte=settings.WEBHOOK_MAX_RETRIES - 1)  # fmt: skip
    taken = WebhookEvent.objects.filter(_due(now) & ~last_chance, pk=event_id).update(
        status=EventStatus.PROCESSING, claimed_at=now,
        retry_count=Case(When(status=EventStatus.PROCESSING, then=F("retry_count") + 1),
                         default=F("retry_count")),
    )  # fmt: skip
    if not taken:  # the rare path: not due, or its workers keep dying
        _bury_worker_killers(event_id, now)
    return now if taken else None


def _bury_worker_killers(event_id: str, now: datetime) -> None:
    stale_claim = now - timedelta(seconds=settings.WEBHOOK_CLAIM_TIMEOUT)
    WebhookEvent.objects.filter(
        pk=event_id, status=EventStatus.PROCESSING, claimed_at__lt=stale_claim,
        retry_count__gte=settings.WEBHOOK_MAX_RETRIES - 1,
    ).update(status=EventStatus.DEAD, retry_count=F("retry_count") + 1, next_attempt_at=None,
             error="Its processing never finished: the worker died or hit its time limit "
                   f"{settings.WEBHOOK_MAX_RETRIES} times")  # fmt: skip


def process(event_id: str) -> str | None:
    """Process one event if it is due; returns its new status (None: nothing to do)."""
    from webhooks import handlers

    token = claim(event_id)
    if token is None:
        return None
    started = time.perf_counter()
    event_type = "unknown"
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.select_for_update().get(pk=event_id)
            if event.status != EventStatus.PROCESSING or event.claimed_at != token:
                return None  # our claim expired and another worker took the event
            event_type = event_type_label(event.event_type)
            result = handlers.dispatch(event)
            WebhookEvent.objects.filter(pk=event_id).update(
                status=EventStatus.PROCESSED, processed=True, processed_at=timezone.now(),
                correlation_id=result.correlation_id, outcome=result.outcome[:1000], error=None,
                next_attempt_at=None,
            )  # fmt: skip
            for follow_up in result.follow_ups:
                transaction.on_commit(follow_up)
    except Exception as error:
        status = _record_failure(event_id, token, error)
        metrics.count(event_type, status)
        return status
    finally:
        metrics.PROCESSING_SECONDS.labels(event_type).observe(time.perf_counter() - started)
    metrics.count(event_type, "processed")
    return EventStatus.PROCESSED


def retry_delay(retry_count: int) -> timedelta:
    """Exponential back-off: base, 2×base, 4×base, ... capped at one hour."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS
    return timedelta(seconds=min(3600, base * 2 ** max(0, retry_count - 1)))


def _record_failure(event_id: str, token: datetime, error: Exception) -> str:
    message = f"{type(error).__name__}: {error}"[:2000]
    event = WebhookEvent.objects.filter(pk=event_id).values("retry_count").first() or {}
    retries = (event.get("retry_count") or 0) + 1
    dead = retries >= settings.WEBHOOK_MAX_RETRIES
    status = EventStatus.DEAD if dead else EventStatus.FAILED
    WebhookEvent.objects.filter(pk=event_id, status=EventStatus.PROCESSING, claimed_at=token).update(
        status=status, retry_count=F("retry_count") + 1, error=message,
        next_attempt_at=None if dead else timezone.now() + retry_delay(retries),
    )  # fmt: skip
    log = logger.error if dead else logger.warning
    log("webhook event %s failed (attempt %d%s): %s", event_id, retries,
        ", now dead" if dead else "", message)  # fmt: skip
    return status


def sweep(limit: int = 1000) -> int:
    """Hand every due event to the workers: pending ones whose message was lost, failed
    ones whose back-off has passed, and ones claimed by a worker that died."""
    from webhooks.tasks import process_event

    now = _now()
    settle = now - timedelta(seconds=settings.WEBHOOK_SWEEP_MIN_AGE)
    due = _due(now) & ~Q(status=EventStatus.PENDING, created_at__gt=settle)
    ids = list(
        WebhookEvent.objects.filter(due).order_by("created_at").values_list("id", flat=True)[:limit]
    )
    for event_id in ids:
        publish(process_event, event_id)
    return len(ids)


def purge() -> int:
    """Delete processed and ignored events past the retention period; dead ones stay."""
    cutoff = timezone.now() - timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    done = WebhookEvent.objects.filter(
        status__in=[EventStatus.PROCESSED, EventStatus.IGNORED], created_at__lt=cutoff
    )
    deleted, _ = done.delete()
    return deleted


def replay(event_ids: list[str]) -> int:
    """Process events again (handlers are idempotent, so processed ones change nothing)."""
    from webhooks.tasks import process_event

    replayable = WebhookEvent.objects.filter(pk__in=event_ids).exclude(
        status__in=[EventStatus.PROCESSING, EventStatus.IGNORED]
    )
    with transaction.atomic():
        # Locked, so a worker cannot claim one between the read and the update.
        ids = list(replayable.select_for_update().values_list("id", flat=True))
        replayable.filter(pk__in=ids).update(
            status=EventStatus.PENDING, processed=False, claimed_at=None, next_attempt_at=None,
            retry_count=0,  # a replayed dead event gets its full set of attempts again
        )  # fmt: skip
    for event_id in ids:
        transaction.on_commit(lambda event_id=event_id: publish(process_event, event_id))
    return len(ids)


def resolve(event_ids: list[str], who: str) -> int:
    """An operator took care of these failed or dead events by hand."""
    events = WebhookEvent.objects.filter(
        pk__in=event_ids, status__in=[EventStatus.FAILED, EventStatus.DEAD]
    )
    return events.update(
        status=EventStatus.PROCESSED, processed=True, processed_at=timezone.now(),
        next_attempt_at=None, outcome=f"resolved by {who}",
    )  # fmt: skip


def summary(hours: int = 24) -> dict[str, int]:
    since = timezone.now() - timedelta(hours=hours)
    recent = WebhookEvent.objects.filter(created_at__gte=since)
    return {
        "received": recent.count(),
        "processed": recent.filter(status=EventStatus.PROCESSED).count(),
        "failed": recent.filter(status=EventStatus.FAILED).count(),
        "dead": WebhookEvent.objects.filter(status=EventStatus.DEAD).count(),
    }
