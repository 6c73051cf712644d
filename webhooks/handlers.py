"""What each Lidarr event does. Called inside the processing transaction by
`webhooks.services.process`; every handler is idempotent (see `downloads.services`).

Bodies are untrusted input: every field is read defensively (wrong types are treated as
missing), never assumed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q

from downloads import services as jobs
from downloads.services import AlbumRef, normalize_download_id
from settings_app import services as settings_service
from webhooks.models import LidarrHealthIssue, WebhookEvent


@dataclass
class HandlerResult:
    outcome: str
    correlation_id: str | None = None
    follow_ups: list[Callable[[], Any]] = field(default_factory=list)


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    """A Lidarr id (a 32-bit integer, as its database and our columns hold), else None."""
    if isinstance(value, str) and INTEGER.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if -(2**31) <= value < 2**31 else None


INTEGER = re.compile(r"-?[0-9]{1,10}")


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _album(album: Any, artist: Any) -> AlbumRef:
    album, artist = _dict(album), _dict(artist)
    return AlbumRef(lidarr_id=_int(album.get("id")), mbid=_text(album.get("mbId")),
                    title=_text(album.get("title")), artist=_text(artist.get("name")))  # fmt: skip


def _linked(job_ids: list[str], verb: str, what: str) -> HandlerResult:
    if not job_ids:
        return HandlerResult(f"no active job for {what}")
    return HandlerResult(f"{verb} {len(job_ids)} job(s) for {what}", correlation_id=job_ids[0])


def handle_grab(payload: dict) -> HandlerResult:
    download_id = normalize_download_id(payload.get("downloadId"))
    if not download_id:
        return HandlerResult("Grab without downloadId: nothing to link")
    release = _dict(payload.get("release"))
    albums = payload.get("albums") if isinstance(payload.get("albums"), list) else []
    linked: list[str] = []
    for album in albums:  # a release covering several albums links every one of them
        ref = _album(album, payload.get("artist"))
        linked += jobs.link_grab(download_id, ref, _text(release.get("releaseTitle")))
    return _linked(linked, "linked", f"download {download_id} ({len(albums)} album(s))")


def handle_download(payload: dict) -> HandlerResult:
    download_id = normalize_download_id(payload.get("downloadId"))
    ref = _album(payload.get("album"), payload.get("artist"))
    files = payload.get("trackFiles") if isinstance(payload.get("trackFiles"), list) else []
    upgrade = payload.get("isUpgrade") is True
    completed, already = jobs.complete_import(download_id, ref, upgrade, len(files))
    what = f"album {ref.title or ref.lidarr_id}"
    if already:
        return HandlerResult(f"already completed {what}", completed[0] if completed else None)
    if not completed and upgrade:
        return HandlerResult(f"upgrade of {what} recorded ({len(files)} file(s) replaced)")
    return _linked(completed, "completed", what)


def handle_download_failure(payload: dict) -> HandlerResult:
    download_id = normalize_download_id(payload.get("downloadId"))
    if not download_id:
        return HandlerResult("DownloadFailure without downloadId: nothing to match")
    reason = _text(payload.get("message")) or "Lidarr reported the download as failed"
    release = _text(payload.get("releaseTitle"))
    if release:
        reason = f"{reason} ({release})"
    limit = max(1, settings_service.effective().download_retry_attempts)
    touched = jobs.record_lidarr_failure(download_id, reason, limit)
    return _linked(touched, "recorded a failed release on", f"download {download_id}")


def handle_import_failure(payload: dict) -> HandlerResult:
    # Lidarr sends no identifiers with ImportFailure; its queue says what failed.
    from kima.tasks import publish
    from webhooks.tasks import reconcile_lidarr_queue

    return HandlerResult("queue reconciliation requested",
                         follow_ups=[lambda: publish(reconcile_lidarr_queue)])  # fmt: skip


# Health and HealthRestored may be processed in any order (two workers, a retry): each
# change carries the time Lidarr's event arrived, and an older event never undoes a newer.


def handle_health(payload: dict, received_at: datetime) -> HandlerResult:
    check = (_text(payload.get("type")) or "unknown")[:200]
    LidarrHealthIssue.objects.get_or_create(
        check_type=check, defaults={"level": "", "message": "", "reported_at": received_at}
    )
    newer = Q(reported_at__gt=received_at) | Q(restored_at__gt=received_at)
    opened = LidarrHealthIssue.objects.filter(check_type=check).exclude(newer).update(
        level=(_text(payload.get("level")) or "error")[:20],
        message=_text(payload.get("message")) or "", wiki_url=_text(payload.get("wikiUrl")) or "",
        reported_at=received_at, restored_at=None,
    )  # fmt: skip
    if not opened:
        return HandlerResult(f"Lidarr health issue {check}: a newer event already decided")
    return HandlerResult(f"Lidarr health issue recorded: {check}")


def handle_health_restored(payload: dict, received_at: datetime) -> HandlerResult:
    check = (_text(payload.get("type")) or "unknown")[:200]
    # Created closed when the Health it restores has not been processed yet.
    LidarrHealthIssue.objects.get_or_create(check_type=check, defaults={
        "level": "", "message": "", "reported_at": received_at, "restored_at": received_at})  # fmt: skip
    count = LidarrHealthIssue.objects.filter(
        check_type=check, restored_at__isnull=True, reported_at__lte=received_at
    ).update(restored_at=received_at)
    return HandlerResult(f"Lidarr health restored: {check}" if count else f"no open issue {check}")


TIMED_HANDLERS = {"Health", "HealthRestored"}


def handle_album_delete(payload: dict) -> HandlerResult:
    ref = _album(payload.get("album"), payload.get("artist"))
    cancelled = jobs.cancel_for_deleted_album(ref)
    return _linked(cancelled, "cancelled", f"deleted album {ref.title or ref.lidarr_id}")


def record_only(payload: dict) -> HandlerResult:
    return HandlerResult(f"{payload.get('eventType')} recorded")


HANDLERS: dict[str, Callable[[dict], HandlerResult]] = {
    "Grab": handle_grab,
    "Download": handle_download,
    "DownloadFailure": handle_download_failure,
    "ImportFailure": handle_import_failure,
    "Health": handle_health,
    "HealthRestored": handle_health_restored,
    "AlbumDelete": handle_album_delete,
    **dict.fromkeys(
        ["Test", "Rename", "Retag", "ArtistAdd", "ArtistDelete", "ApplicationUpdate"], record_only
    ),
}


def dispatch(event: WebhookEvent) -> HandlerResult:
    payload = event.payload if isinstance(event.payload, dict) else {}
    handler = HANDLERS.get(event.event_type)
    if handler is None:
        return HandlerResult("ignored: not a Lidarr event type")
    if event.event_type in TIMED_HANDLERS:
        return handler(payload, event.created_at)
    return handler(payload)
