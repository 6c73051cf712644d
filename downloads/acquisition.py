"""Getting albums onto disk: source policy, admission, the Lidarr and Soulseek paths.

Policy (kima-downloads.md 2.2, with its bugs fixed): a source is available when its
settings are complete (Lidarr: enabled, URL, API key; Soulseek: slskd URL and API key,
not disabled). With both, the primary is `downloadSource` and the other is the fallback
only when `primaryFailureFallback` names it. Lidarr needs an MBID. The same rules serve
the API, batches and retries, and a fallback reuses the same job.

Admission: at most `maxConcurrentDownloads` jobs are in progress, and at most
`soulseekConcurrentDownloads` of them on Soulseek, across every worker process (the
count-and-start runs under a shared lock). Jobs not admitted stay pending; the
dispatcher (every 30 s) offers them again.

An integration that cannot be reached never fails a job: the attempt is retried later
(`SourceUnavailable`). Only a source's answer ("not found", "no results", every folder
failed) counts against it.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from downloads import services, soulseek, soulseek_cache
from downloads.models import DownloadJob, JobStatus
from kima.clients.base import IntegrationError
from kima.clients.lidarr import LidarrClient
from kima.clients.slskd import FINAL_FAILURES, SUCCEEDED, PeerUnavailable, SlskdClient, has_flag
from kima.db import JSONMerge
from kima.locks import Lock, LockNotAcquired
from settings_app import services as settings_service

logger = logging.getLogger(__name__)

LIDARR, SOULSEEK = "lidarr", "soulseek"


class SourceUnavailable(Exception):
    """The source could not be asked (unreachable, busy): try again later."""


class SourceFailed(Exception):
    """The source answered that it cannot deliver this album."""


CANCELLED_MEANWHILE = "cancelled"


class FolderUnusable(Exception):
    """A Soulseek folder finished downloading but gave nothing to import."""


# ---------------------------------------------------------------------------
# Policy and admission
# ---------------------------------------------------------------------------


def plan(current: settings_service.EffectiveSettings, has_mbid: bool) -> list[str]:
    """The sources to try, in order; empty when none can serve this request."""
    lidarr = current.lidarr_active and bool(current.lidarr_api_key) and has_mbid
    slsk = current.soulseek_active
    available = {LIDARR: lidarr, SOULSEEK: slsk}
    primary = current.download_source if available.get(current.download_source) else None
    if primary is None:
        return [source for source in (SOULSEEK, LIDARR) if available[source]][:1]
    other = LIDARR if primary == SOULSEEK else SOULSEEK
    if current.primary_failure_fallback == other and available[other]:
        return [primary, other]
    return [primary]


def admit(job: DownloadJob, source: str) -> bool:
    """Start `job` on `source` if the concurrency limits allow it now."""
    current = settings_service.effective()
    with Lock("downloads:admission", ttl=30, wait=10):
        running = services.active_jobs().filter(status=JobStatus.PROCESSING)
        if running.count() >= current.max_concurrent_downloads:
            return False
        on_slsk = running.filter(metadata__currentSource=SOULSEEK).count()
        if source == SOULSEEK and on_slsk >= current.soulseek_concurrent_downloads:
            return False
        with transaction.atomic():
            return services.start(job, source)


def fallback_left(job: DownloadJob) -> bool:
    return bool(_remaining_sources(job.metadata or {}))


def _remaining_sources(metadata: dict) -> list[str]:
    tried = [*metadata.get("sourcesTried", []), metadata.get("currentSource")]
    return [source for source in metadata.get("sources", []) if source not in tried]


def source_failed(job: DownloadJob, reason: str, publish: bool = True) -> bool:
    """The current source gave up on `job`: the next planned source (True; its attempt
    is published unless `publish` is False), or exhausted (False)."""
    metadata = job.metadata or {}
    tried = [*metadata.get("sourcesTried", []), metadata.get("currentSource")]
    remaining = _remaining_sources(metadata)
    if not remaining:
        services.exhaust(job, f"Gave up after {job.attempts} failed attempts: {reason}")
        return False
    services.update_active(job, {
        "currentSource": remaining[0], "sourcesTried": tried, "lastError": reason,
        "statusText": f"Falling back to {remaining[0]}: {reason}"[:300], **_NO_SEARCH,
    }, lidarr_ref=None)  # fmt: skip
    if LIDARR in tried and job.lidarr_album_id:
        from downloads.tasks import leave_lidarr as leave_lidarr_task
        from kima.tasks import publish_on_commit

        publish_on_commit(leave_lidarr_task, job.lidarr_album_id)
    if publish:
        _publish_acquire(job.pk)
    return True


def leave_lidarr(album_id: int) -> None:
    """Stop Lidarr from searching an album we now get elsewhere (it re-searches after
    every failed release while the album is monitored)."""
    current = settings_service.effective()
    try:
        with _lidarr(current) as lidarr:
            lidarr.set_monitored([album_id], False)
    except IntegrationError as error:
        logger.warning("could not unmonitor Lidarr album %s: %s", album_id, error)


def _publish_acquire(job_id: str) -> None:
    from downloads.tasks import acquire_job
    from kima.tasks import publish_on_commit

    publish_on_commit(acquire_job, job_id)


RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS = 10, 120


def retry_later(job: DownloadJob, reason: str) -> None:
    """The dispatcher offers the job again once `retryAt` has passed: 10 s after the
    first miss, doubling up to 2 minutes, so a short blip costs seconds and a long outage
    is not hammered."""
    waits = int((job.metadata or {}).get("unavailableRetries") or 0)
    seconds = min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2**waits)
    services.update_active(job, {"retryAt": _soon(seconds), "unavailableRetries": waits + 1,
                                 "statusText": f"Waiting {seconds} s: {reason}"[:300]})  # fmt: skip


# ---------------------------------------------------------------------------
# The task body
# ---------------------------------------------------------------------------


def acquire(job_id: str) -> str:
    """Move one job forward. Safe to run twice: each step checks the job's state.
    Admission needs no lock (starting a job is a conditional update: of two offers one
    wins); the work on a started job is done by one run at a time (the dispatcher and a
    finishing job may both have offered it; the loser returns at once)."""
    job = DownloadJob.objects.filter(pk=job_id).first()
    if job is None:
        return "gone"
    current = settings_service.effective()
    if job.status == JobStatus.PENDING:
        waiting = _admit_pending(job, current)
        if waiting:
            return waiting
    if job.status != JobStatus.PROCESSING:
        return f"nothing to do ({job.status})"
    running = Lock(f"downloads:acquire:{job_id}", ttl=ACQUIRE_LOCK_SECONDS)
    if not running.acquire():
        # The other run may be finishing just as this offer came (a webhook moved the
        # job on meanwhile): the dispatcher looks at it again shortly.
        DownloadJob.objects.filter(pk=job_id, status=JobStatus.PROCESSING).update(
            metadata=JSONMerge("metadata", {"retryAt": _soon(RETRY_BUSY_SECONDS)}))  # fmt: skip
        return "already running elsewhere"
    _current_run.lock = running
    try:
        outcome, next_source = _work_on(job_id, current)
    finally:
        _current_run.lock = None
        running.release()
    if next_source:  # published only now, or it would find this run's lock still held
        _publish_acquire(job_id)
    return outcome


def _admit_pending(job: DownloadJob, current: settings_service.EffectiveSettings) -> str:
    """Plan the sources and start `job` if a slot is free: "" when it started, else why
    it did not."""
    sources = plan(current, bool(job.target_mbid))
    if not sources:
        services.fail(job, "No download source is configured (set up slskd or Lidarr)")
        return "no source"
    services.update_active(job, {"sources": sources, "sourcesTried": []})
    if not admit(job, sources[0]):
        return "waiting for a free slot"
    job.refresh_from_db()
    return ""


# A run renews its lock while it waits on a source (`_still_running`), so a run killed
# with its process frees the job within this time (database locks, used without Redis,
# are freed at once); no single step between renewals takes this long.
ACQUIRE_LOCK_SECONDS = 300
RETRY_BUSY_SECONDS = 5
_current_run = threading.local()


def _still_running() -> None:
    """Renew this run's lock on its job (called from the waiting loops)."""
    lock = getattr(_current_run, "lock", None)
    if lock is not None:
        lock.extend()


def _soon(seconds: float) -> str:
    return (timezone.now() + timedelta(seconds=seconds)).isoformat()


def _work_on(job_id: str, current: settings_service.EffectiveSettings) -> tuple[str, bool]:
    """The source's part, under the job's lock: (what happened, whether the job moved
    on to its next source)."""
    job = DownloadJob.objects.filter(pk=job_id).first()  # as it is now that we hold it
    if job is None or job.status != JobStatus.PROCESSING:
        return f"nothing to do ({job.status if job else 'gone'})", False
    retry_at = parse_datetime(str((job.metadata or {}).get("retryAt") or ""))
    if retry_at is not None and retry_at > timezone.now():
        # An offer made before the wait began (the dispatcher offers waiting jobs again
        # and again): only the retry that is due may ask the source again.
        return f"waiting until {retry_at.isoformat()}", False
    if retry_at is not None:  # this is the retry: no other one is due
        services.update_active(job, {"retryAt": None})
    source = (job.metadata or {}).get("currentSource")
    try:
        if source == LIDARR:
            return hand_to_lidarr(job, current), False
        return download_from_soulseek(job, current), False
    except (SourceUnavailable, LockNotAcquired) as error:  # unreachable, or too busy now
        retry_later(job, str(error))
        return f"retry later: {error}", False
    except SourceFailed as error:
        job.refresh_from_db()
        moved_on = job.status == JobStatus.PROCESSING and source_failed(job, str(error), False)
        return f"source failed: {error}", moved_on


# ---------------------------------------------------------------------------
# Lidarr
# ---------------------------------------------------------------------------


def _lidarr(current: settings_service.EffectiveSettings) -> LidarrClient:
    return LidarrClient(current.lidarr_url, current.lidarr_api_key)


def _translate(error: IntegrationError) -> Exception:
    if error.kind in ("unreachable", "timeout") or (error.status or 0) >= 500:
        return SourceUnavailable(error.message)
    return SourceFailed(error.message)


# Forgets the Lidarr search of an earlier hand-over (a fallback back to Lidarr searches anew).
_NO_SEARCH = {"lidarrSearchCommand": None, "lidarrSearchDone": None}


def hand_to_lidarr(job: DownloadJob, current: settings_service.EffectiveSettings) -> str:
    """Add or find the artist, monitor exactly this album and search for it. The Grab and
    Download webhooks (matched by Lidarr's album id and the MBID) do the rest.

    Each step is recorded on the job when it is done, so a run cut short by an outage
    resumes at the step that failed: the album (`lidarrAlbumId`), the search command
    (`lidarrSearchCommand`), its outcome (`lidarrSearchDone`)."""
    metadata = job.metadata or {}
    if job.lidarr_ref or metadata.get("lidarrSearchDone"):
        return "already with Lidarr"
    try:
        with _lidarr(current) as lidarr:
            if not job.lidarr_album_id:
                album_id, artist_mbid = _library_album(lidarr, job.target_mbid, current)
                lidarr.monitor_albums([album_id])
                services.update_active(job, {"lidarrMbid": job.target_mbid,
                                             "statusText": "Searching in Lidarr"},
                                       lidarr_album_id=album_id, artist_mbid=artist_mbid)  # fmt: skip
            command_id = metadata.get("lidarrSearchCommand")
            if command_id is None:
                command_id = lidarr.command("AlbumSearch", albumIds=[job.lidarr_album_id])["id"]
                services.update_active(job, {"lidarrSearchCommand": command_id})
            outcome = _wait_for_command(lidarr, command_id)
    except IntegrationError as error:
        raise _translate(error) from error
    services.update_active(job, {"lidarrSearchDone": True})
    if NO_REPORTS.search(outcome):
        raise SourceFailed("No releases available: Lidarr's indexers found nothing")
    return f"searching in Lidarr (album {job.lidarr_album_id})"


NO_REPORTS = re.compile(r"\b0 reports?\b", re.IGNORECASE)


def _wait_for_command(lidarr: LidarrClient, command_id: int) -> str:
    """The command's final message, or "" if it is still running after the wait or
    Lidarr no longer knows it (it forgets old commands): Lidarr may still be searching,
    and the Grab webhook or the stale check decides."""
    deadline = time.monotonic() + settings.LIDARR_COMMAND_WAIT_SECONDS
    status: dict = {}
    while status.get("status") in (None, "queued", "started") and time.monotonic() < deadline:
        _still_running()
        try:
            status = lidarr.command_status(command_id)
        except IntegrationError as error:
            if error.status != 404:
                raise
            return ""
        if status.get("status") in ("queued", "started"):
            time.sleep(0.5)
    return str(status.get("message") or "") if status.get("status") == "completed" else ""


def _library_album(lidarr: LidarrClient, mbid: str, current: Any) -> tuple[int, str | None]:
    found = lidarr.lookup_album(mbid)
    if found is None:
        raise SourceFailed("Album not found in Lidarr")
    artist = found.get("artist") or {}
    artist_mbid = artist.get("foreignArtistId")
    # Albums of one artist are often requested together: one worker adds the artist.
    with Lock(f"lidarr:add-artist:{artist_mbid}", ttl=60, wait=30):
        existing = _find_artist(lidarr, artist_mbid)
        if existing is None:
            # The artist lookup gives the whole resource Lidarr wants back when adding;
            # the album lookup's nested artist is the fallback.
            artist = (lidarr.lookup_artist(artist_mbid) if artist_mbid else None) or artist
            try:
                existing = _add_artist(lidarr, artist, current)
            except IntegrationError as error:
                existing = _find_artist(lidarr, artist_mbid)  # "already been added"
                if existing is None:
                    raise _translate(error) from error
    for _ in range(10):  # a new artist's albums appear once Lidarr refreshed it
        albums = lidarr.albums_of(existing["id"])
        album = next((a for a in albums if a.get("foreignAlbumId") == mbid), None)
        if album is not None:
            return album["id"], artist_mbid
        time.sleep(settings.LIDARR_REFRESH_POLL_SECONDS)
    raise SourceUnavailable("Lidarr is still adding the artist's albums")


def _find_artist(lidarr: LidarrClient, artist_mbid: str | None) -> dict | None:
    return next((a for a in lidarr.artists() if a.get("foreignArtistId") == artist_mbid), None)


def _add_artist(lidarr: LidarrClient, artist: dict, current: Any) -> dict:
    folders = lidarr.root_folders()
    if not folders:
        raise SourceFailed("Lidarr has no root folder; add one in Lidarr's media management")
    root = folders[0]
    quality = current.lidarr_quality_profile_id or root.get("defaultQualityProfileId")
    metadata = current.lidarr_metadata_profile_id or root.get("defaultMetadataProfileId")
    quality = quality or (lidarr.quality_profiles() or [{}])[0].get("id")
    metadata = metadata or (lidarr.metadata_profiles() or [{}])[0].get("id")
    return lidarr.add_artist(artist, root["path"], int(quality or 1), int(metadata or 1))


# ---------------------------------------------------------------------------
# Soulseek
# ---------------------------------------------------------------------------


def _slskd(current: settings_service.EffectiveSettings) -> SlskdClient:
    return SlskdClient(current.slskd_url, current.slskd_api_key)


def download_from_soulseek(job: DownloadJob, current: settings_service.EffectiveSettings) -> str:
    limit = max(1, current.download_retry_attempts)
    try:
        with _slskd(current) as slskd:
            expected = _expected_tracks(job, current)
            candidates = [f for f in _search(slskd, job, expected)
                          if not soulseek_cache.is_peer_blocked(f.username)
                          and f.key not in (job.tried_releases or [])]  # fmt: skip
            if not candidates:
                raise SourceFailed("No usable Soulseek results")
            for folder in candidates:
                if services.source_attempts(job, SOULSEEK) >= limit:
                    break
                ok, reason = _download_folder(slskd, job, folder, expected, current)
                if ok:
                    try:
                        return _import(job, folder, current)
                    except FolderUnusable as error:
                        reason = str(error)
                if reason == CANCELLED_MEANWHILE:
                    return "stopped: the job was cancelled"  # not the peer's fault
                soulseek_cache.record_peer_failure(folder.username)
                services.record_attempt(job, folder.key, reason, limit, exhaust_at_limit=False)
                job.refresh_from_db()
                if job.status != JobStatus.PROCESSING:
                    return f"stopped ({job.status})"
    except IntegrationError as error:
        raise _translate(error) from error
    raise SourceFailed(f"Soulseek: {services.source_attempts(job, SOULSEEK)} folder(s) failed")


def _expected_tracks(job: DownloadJob, current: Any) -> int | None:
    """How many tracks the album has: Lidarr's lookup when Lidarr is configured, else
    MusicBrainz; None when neither knows (folders are then scored by file count)."""
    metadata = job.metadata or {}
    if isinstance(metadata.get("tracksExpected"), int):
        return metadata["tracksExpected"]
    if not job.target_mbid:
        return None
    expected = _tracks_from_lidarr(job.target_mbid, current)
    titles = [] if expected else _track_titles(job.target_mbid)
    expected = expected or len(titles) or None
    if expected:
        services.update_active(job, {"tracksExpected": expected, "trackTitles": titles or None})
    return expected


def _tracks_from_lidarr(mbid: str, current: Any) -> int | None:
    if not (current.lidarr_active and current.lidarr_api_key):
        return None
    try:
        with _lidarr(current) as lidarr:
            album = lidarr.lookup_album(mbid) or {}
    except IntegrationError:
        return None  # optional here
    counts = [r.get("trackCount") for r in album.get("releases") or [] if r.get("trackCount")]
    return max(counts) if counts else None


def _track_titles(mbid: str) -> list[str]:
    from kima.clients.musicbrainz import MusicBrainzClient

    try:
        with MusicBrainzClient() as musicbrainz:
            return musicbrainz.track_titles(mbid)
    except IntegrationError:
        return []


def _search(slskd: SlskdClient, job: DownloadJob, expected: int | None) -> list:
    metadata = job.metadata or {}
    artist, album = metadata.get("artistName") or "", metadata.get("albumTitle") or job.subject
    for text in dict.fromkeys([f"{artist} {album}".strip(), album]):
        _still_running()
        with Lock("slskd:search-start", ttl=10, wait=30):  # slskd starts one search at a time
            search_id = slskd.start_search(text)
        soulseek_cache.remember_search(search_id, {"jobId": job.pk, "query": text})
        folders = soulseek.group_folders(
            slskd.wait_for_search(search_id, settings.SLSKD_SEARCH_SECONDS)
        )
        if folders:
            return soulseek.rank(folders, expected, (job.metadata or {}).get("trackTitles"))
    return []


def _download_folder(slskd: SlskdClient, job: DownloadJob, folder: soulseek.Folder,
                     expected: int | None, current: Any) -> tuple[bool, str]:  # fmt: skip
    destination = f"kima/{job.pk}/{services.source_attempts(job, SOULSEEK) + 1}"
    wanted = {f["filename"] for f in folder.files}
    # The peer's earlier transfers (another job's, or an earlier attempt's) are not ours.
    earlier = {t.get("id") for t in slskd.transfers(folder.username)}
    try:
        queued = slskd.enqueue(folder.username, folder.files, destination)
    except PeerUnavailable as error:
        return False, error.message

    def ours(transfers: list[dict]) -> list[dict]:
        if queued:
            return [t for t in transfers if t.get("id") in queued]
        return [t for t in transfers if t.get("id") not in earlier and t.get("filename") in wanted]

    needed = math.ceil(settings.SOULSEEK_SUCCESS_SHARE * (expected or len(wanted)))
    deadline = time.monotonic() + settings.SLSKD_TRANSFER_SECONDS
    services.update_active(job, {
        "slskdDestination": destination, "slskdUser": folder.username,
        "statusText": f"Downloading {len(wanted)} file(s) from {folder.username}"})  # fmt: skip
    while time.monotonic() < deadline:
        _still_running()
        transfers = ours(slskd.transfers(folder.username))
        done = [t for t in transfers if has_flag(t.get("state"), SUCCEEDED)]
        failed = [t for t in transfers if any(has_flag(t.get("state"), f) for f in FINAL_FAILURES)]
        job.refresh_from_db()
        if job.status != JobStatus.PROCESSING:  # cancelled meanwhile
            _cancel(slskd, folder.username, transfers)
            return False, CANCELLED_MEANWHILE
        services.record_progress(job, tracks_done=len(done), tracks_total=len(wanted),
                                 bytes_done=sum(int(t.get("bytesTransferred") or 0) for t in transfers),
                                 bytes_total=folder.size)  # fmt: skip
        if len(done) + len(failed) >= len(wanted) and transfers:
            if len(done) >= needed:
                return True, ""
            return False, f"only {len(done)} of {len(wanted)} files arrived from {folder.username}"
        time.sleep(settings.SLSKD_POLL_SECONDS)
    _cancel(slskd, folder.username, ours(slskd.transfers(folder.username)))
    return False, f"{folder.username} did not deliver in time"


def _cancel(slskd: SlskdClient, username: str, transfers: list[dict]) -> None:
    for transfer in transfers:
        if not has_flag(transfer.get("state"), "Completed"):
            slskd.cancel(username, transfer["id"])


def _import(job: DownloadJob, folder: soulseek.Folder, current: Any) -> str:
    """Files in place: Lidarr imports them (DownloadedAlbumsScan) when it is enabled,
    else they move into the music path as <artist>/<album>/."""
    job.refresh_from_db()
    source = Path(current.soulseek_download_path) / job.metadata["slskdDestination"]
    if current.lidarr_active and current.lidarr_api_key:
        try:
            with _lidarr(current) as lidarr:
                lidarr.scan_downloaded_album(str(source))
        except IntegrationError as error:
            raise _translate(error) from error
        services.complete(job, importedBy="lidarr", files=str(source))
        return "downloaded; Lidarr imports it"
    metadata = job.metadata or {}
    target = (Path(current.music_path) / soulseek.safe_name(metadata.get("artistName") or "Unknown Artist")
              / soulseek.safe_name(metadata.get("albumTitle") or job.subject))  # fmt: skip
    audio = [p for p in sorted(source.rglob("*"))
             if p.is_file() and soulseek.extension(p.name) in soulseek.AUDIO]  # fmt: skip
    if not audio:
        raise FolderUnusable(f"no audio files arrived in {source}")
    try:
        target.mkdir(parents=True, exist_ok=True)
        for path in audio:
            shutil.move(str(path), target / soulseek.safe_name(path.name))
    except OSError as error:  # permissions, a full disk: the operator must act
        services.fail(job, f"Could not move the files into the music folder: {error}")
        return f"import failed: {error}"
    services.complete(job, importedBy="kima", files=str(target), tracksImported=len(audio))
    return f"downloaded {len(audio)} file(s) into {target}"
