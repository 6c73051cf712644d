"""The local spool: where a webhook goes when the database cannot take it.

Lidarr never retries, so an event the database refuses is written to a file in
DATA_DIR/webhook-spool (one JSON line, fsync'd before the 200 goes out) and inserted
later. Draining is idempotent: an event inserted twice meets the event-key unique
constraint, so a crash between insert and truncation duplicates nothing.

Files are shared by the processes of one host: a writer takes an exclusive flock,
appends and fsyncs; a drainer takes the same lock, inserts every line and deletes the
file. A writer that waited for the lock while the file was deleted notices (the inode
has no links left) and opens a new file, so no line is written into a deleted file.

Authentication: when the settings could be read at intake the request was checked
then. When they could not (the database was already down at process start), the
request's credentials are kept only as SHA-256 digests and checked on drain; events
whose credentials do not match are dropped and logged.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections

logger = logging.getLogger(__name__)

_process_file: Path | None = None
_process_lock = threading.Lock()


def spool_dir() -> Path:
    path = Path(settings.DATA_DIR) / "webhook-spool"
    path.mkdir(parents=True, exist_ok=True)
    return path


def digest(value: str | None) -> str | None:
    return hashlib.sha256(value.encode()).hexdigest() if value else None


def append(payload: dict, received_at: datetime, auth: dict[str, Any]) -> None:
    """Write one event durably; returns once it is on disk."""
    global _process_file
    line = json.dumps({"receivedAt": received_at.isoformat(), "payload": payload, "auth": auth},
                      ensure_ascii=False) + "\n"  # fmt: skip
    with _process_lock:
        while True:
            created = _process_file is None
            if created:
                _process_file = spool_dir() / f"spool-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
            descriptor = os.open(_process_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                if os.fstat(descriptor).st_nlink == 0:
                    _process_file = None  # drained and deleted while we waited
                    continue
                _write_whole(descriptor, line.encode())
                if created:
                    _fsync_directory(_process_file.parent)  # the new file's name too
                return
            finally:
                os.close(descriptor)


def _write_whole(descriptor: int, data: bytes) -> None:
    """Append `data` and fsync; on failure (disk full) cut the file back, so the next
    line does not join a torn one."""
    start = os.fstat(descriptor).st_size
    try:
        written = 0
        while written < len(data):
            written += os.write(descriptor, data[written:])
        os.fsync(descriptor)
    except OSError:
        os.ftruncate(descriptor, start)
        raise


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def pending_files() -> list[Path]:
    return sorted(spool_dir().glob("spool-*.jsonl"))


def drain() -> int:
    """Insert every spooled event into the database; returns how many were new."""
    from webhooks import services

    inserted = 0
    for path in pending_files():
        try:
            inserted += _drain_file(path, services)
        except (OperationalError, InterfaceError) as error:
            logger.info("spool: database still unavailable (%s); will retry", error)
            close_old_connections()
            break
    return inserted


def _drain_file(path: Path, services: Any) -> int:
    try:
        descriptor = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return 0
    inserted = 0
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        with open(descriptor, "rb", closefd=False) as handle:
            lines = handle.read().splitlines()
        for line in lines:
            inserted += _ingest_or_quarantine(line, path, services)
        if os.fstat(descriptor).st_nlink:
            os.unlink(path)
    finally:
        os.close(descriptor)
    if lines:
        logger.info("spool: drained %d event(s) from %s (%d new)", len(lines), path.name, inserted)
    return inserted


def _ingest_or_quarantine(line: bytes, path: Path, services: Any) -> int:
    """One line in; a line the database refuses for its content (not for being away)
    is set aside in `rejected-*.jsonl` so it cannot block the lines after it."""
    try:
        return _ingest_line(line.decode("utf-8"), services)
    except UnicodeDecodeError:
        logger.error("spool: skipping a torn line: %.200r", line)
        return 0
    except (OperationalError, InterfaceError):
        raise
    except DatabaseError as error:
        rejected = path.with_name(path.name.replace("spool-", "rejected-", 1))
        with open(rejected, "ab") as handle:
            handle.write(line + b"\n")
        logger.error("spool: event refused by the database (%s); kept in %s", error, rejected)
        return 0


def _ingest_line(line: str, services: Any) -> int:
    from kima.tasks import publish_on_commit
    from webhooks import metrics
    from webhooks.tasks import process_event

    try:
        entry = json.loads(line)
        payload = entry["payload"]
        received_at = datetime.fromisoformat(entry["receivedAt"])
    except (ValueError, KeyError, TypeError):
        logger.error("spool: skipping an unreadable line: %.200s", line)
        return 0  # a torn last line from a crash mid-write: its request got no 200
    from settings_app import services as settings_service

    if not settings_service.effective().lidarr_enabled:
        logger.info("spool: dropping a %s event: Lidarr is disabled", payload.get("eventType"))
        return 0
    if not credentials_match(entry.get("auth") or {}):
        logger.warning("spool: dropping a %s event whose credentials do not match the settings",
                       payload.get("eventType"))  # fmt: skip
        metrics.count(services.event_type_label(payload.get("eventType")), "rejected")
        return 0
    stored = services.store_event(payload, received_at)
    if stored.created and stored.status == "pending":
        publish_on_commit(process_event, stored.id)
    return int(stored.created)


def credentials_match(auth: dict[str, Any]) -> bool:
    if auth.get("verified"):
        return True
    from webhooks.auth import expected_digests

    expected = expected_digests()
    if not expected:
        return True  # no authentication configured: accepted, as at intake
    offered = {auth.get("secret"), auth.get("basic")} - {None}
    return bool(offered & expected)


def run_drainer(stop: threading.Event, every: float = 2.0) -> None:
    """In each web worker: drain this host's spool as soon as the database is back."""
    while not stop.wait(every):
        try:
            if pending_files():
                drain()
        except Exception:  # keep draining later whatever went wrong this time
            logger.exception("spool: drain failed")
        finally:
            close_old_connections()


def start_drainer() -> threading.Event:
    stop = threading.Event()
    threading.Thread(target=run_drainer, args=(stop,), name="kima-spool", daemon=True).start()
    return stop
