"""The lock that serializes `migrate` across processes and containers.

PostgreSQL: a session advisory lock, which the server releases by itself if the
migrator dies (a lock row would stick after `kill -9`). SQLite: an exclusive file lock
next to the database file, released by the kernel when the process ends.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.management import CommandError
from django.db import OperationalError

# "KIMA" in ASCII: one fixed key for every migrator of this service.
MIGRATE_LOCK_KEY = 0x4B494D41


@contextmanager
def migration_lock(connection: Any, say: Callable[[str], None]) -> Iterator[None]:
    timeout = int(getattr(settings, "MIGRATE_LOCK_TIMEOUT", 600))
    if connection.vendor == "postgresql":
        with _postgres_lock(connection, say, timeout):
            yield
    elif connection.vendor == "sqlite" and not connection.is_in_memory_db():
        with _file_lock(f"{connection.settings_dict['NAME']}.migrate-lock", say):
            yield
    else:
        yield


def _set_lock_timeout(cursor: Any, value: str) -> None:
    cursor.execute("SELECT set_config('lock_timeout', %s, false)", [value])


@contextmanager
def _postgres_lock(connection: Any, say: Callable[[str], None], timeout: int) -> Iterator[None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [MIGRATE_LOCK_KEY])
        if not cursor.fetchone()[0]:
            say(f"another migrator holds the lock; waiting up to {timeout} s")
            _set_lock_timeout(cursor, f"{timeout}s")
            try:
                cursor.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK_KEY])
            except OperationalError as error:
                raise CommandError(
                    f"Gave up after {timeout} s waiting for another migrator "
                    "(MIGRATE_LOCK_TIMEOUT); is a migration stuck?"
                ) from error
        # Schema changes must not queue forever behind a long query of the running app.
        _set_lock_timeout(cursor, f"{int(getattr(settings, 'MIGRATE_DDL_LOCK_TIMEOUT', 30))}s")
    try:
        yield
    finally:
        _release_postgres_lock(connection)


def _release_postgres_lock(connection: Any) -> None:
    try:
        with connection.cursor() as cursor:
            _set_lock_timeout(cursor, "0")
            cursor.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK_KEY])
    except Exception:  # noqa: BLE001 - a dead connection has released the lock already
        connection.close()


@contextmanager
def _file_lock(path: str, say: Callable[[str], None]) -> Iterator[None]:
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another migrator holds the lock; waiting")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
