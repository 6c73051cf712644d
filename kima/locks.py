"""Named locks shared by every app: Redis first, the database when Redis is away.

- Redis: `SET key token NX PX ttl` with a random token per acquisition; release and
  extension are compare-and-act scripts, so a holder whose lock expired can never
  delete or extend the next holder's lock.
- Redis unreachable or slow (short socket timeouts): a PostgreSQL session advisory lock
  on a connection of its own, released by the server if the process dies. Without
  PostgreSQL (the embedded SQLite default) an exclusive file lock in DATA_DIR, which
  excludes every process on the machine. The switch is logged once per process.

A lock never replaces a database constraint: code that must not double-write keeps its
unique index; the lock only avoids wasted work.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import secrets
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

from kima.redis_conn import mark_failed, mark_ok, redis_client, usable_client

logger = logging.getLogger(__name__)

KEY_PREFIX = "kima:lock:"

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


class LockNotAcquired(Exception):
    """Raised by `with Lock(...)` when the lock could not be taken in time."""


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Lock:
    """`with Lock("download:job-42", ttl=60, wait=5): ...`

    `ttl` bounds how long a crashed holder blocks others (Redis only); `wait` is how
    long `acquire` keeps trying before it gives up (0: one attempt).
    """

    def __init__(self, name: str, ttl: float = 30.0, wait: float = 0.0) -> None:
        self.name = name
        self.ttl = ttl
        self.wait = wait
        self.token = secrets.token_hex(16)
        self.backend: str | None = None  # "redis" | "postgres" | "file" while held
        self._held: Any = None

    # --- public API ---

    def acquire(self) -> bool:
        deadline = time.monotonic() + self.wait
        pause = 0.005
        while True:
            if self._try_acquire():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 0.1)

    def release(self) -> bool:
        """Give the lock back; False if it was no longer ours (it expired)."""
        backend, held = self.backend, self._held
        self.backend, self._held = None, None
        if backend == "redis":
            try:
                return bool(redis_client().eval(_RELEASE, 1, self.key, self.token))
            except Exception as error:  # noqa: BLE001 - expiry frees it anyway
                logger.warning("could not release lock %s in Redis: %s", self.name, error)
                return False
        if backend == "postgres":
            try:
                unlocked = held.execute("SELECT pg_advisory_unlock(%s)", [advisory_key(self.name)])
                return bool(unlocked.fetchone()[0])
            finally:
                held.close()
        if backend == "file":
            fcntl.flock(held, fcntl.LOCK_UN)
            held.close()
            return True
        return False

    def extend(self, seconds: float | None = None) -> bool:
        """Push the expiry out for long work; False if the lock is no longer ours."""
        if self.backend != "redis":
            return self.backend is not None  # database locks do not expire
        ms = int((seconds or self.ttl) * 1000)
        try:
            return bool(redis_client().eval(_EXTEND, 1, self.key, self.token, ms))
        except Exception:  # noqa: BLE001
            return False

    @property
    def key(self) -> str:
        return KEY_PREFIX + self.name

    def __enter__(self) -> Lock:
        if not self.acquire():
            raise LockNotAcquired(self.name)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # --- backends ---

    def _try_acquire(self) -> bool:
        client = usable_client()
        if client is not None:
            try:
                taken = client.set(self.key, self.token, nx=True, px=int(self.ttl * 1000))
            except Exception as error:  # noqa: BLE001 - any Redis failure means fall back
                mark_failed(error, "locks use the database instead")
            else:
                mark_ok()
                if taken:
                    self.backend = "redis"
                return bool(taken)
        if connection.vendor == "postgresql":
            return self._try_postgres()
        return self._try_file()

    def _try_postgres(self) -> bool:
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        conn = psycopg.connect(**params, autocommit=True)
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", [advisory_key(self.name)])
            if row.fetchone()[0]:
                self.backend, self._held = "postgres", conn
                return True
        except Exception:
            conn.close()
            raise
        conn.close()
        return False

    def _try_file(self) -> bool:
        directory = Path(settings.DATA_DIR) / "locks"
        directory.mkdir(parents=True, exist_ok=True)
        safe = hashlib.sha256(self.name.encode()).hexdigest()[:32]
        handle = open(directory / safe, "a")  # noqa: SIM115 - held until release
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self.backend, self._held = "file", handle
        return True
