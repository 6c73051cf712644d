"""Named caches on top of Django's cache (django-redis from REDIS_URL, else local memory).

A `NamedCache` keeps JSON values under `<name>:v<version>:<key>` with a TTL, and counts
every read as hit, miss or error in `kima_cache_requests_total`. Redis trouble never
reaches the caller: a failed read is a miss, a failed write is dropped, and after one
failure Redis is skipped for a few seconds (see `kima.redis_conn`), so no request waits
longer than one short socket timeout. Bumping `version` orphans old entries, which is
how a release changes a cached shape without flushing Redis.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.cache import caches

from kima import metrics, redis_conn

logger = logging.getLogger(__name__)

_MAX_KEY_PART = 180  # memcached-style limit Django warns about is 250 in total


class NamedCache:
    def __init__(self, name: str, ttl: float, version: int = 1) -> None:
        self.name = name
        self.ttl = ttl
        self.version = version

    # --- JSON values ---

    def get(self, key: str) -> Any | None:
        """The cached value, or None on a miss (Redis down counts as a miss)."""
        raw = self._call("get", lambda c: c.get(self._key(key)))
        if raw is _FAILED:
            return None
        if raw is None:
            self._count("get", "miss")
            return None
        try:
            value = json.loads(raw)
        except (TypeError, ValueError):
            self._count("get", "miss")  # a foreign or corrupt entry is not our value
            return None
        self._count("get", "hit")
        return value

    def set(self, key: str, value: Any, ttl: float | None = None) -> bool:
        payload = json.dumps(value, separators=(",", ":"))
        timeout = self.ttl if ttl is None else ttl
        done = self._call("set", lambda c: c.set(self._key(key), payload, timeout))
        return self._written(done, "set")

    def delete(self, key: str) -> bool:
        done = self._call("delete", lambda c: c.delete(self._key(key)))
        return self._written(done, "delete")

    # --- counters with a sliding expiry ---

    def increment(self, key: str) -> int | None:
        """Atomically add one and push the expiry to `ttl` from now; None if Redis failed."""
        full = self._key(key)

        def incr(cache: Any) -> int:
            for _ in range(3):
                cache.add(full, 0, self.ttl)  # no-op when the counter exists
                try:
                    value = cache.incr(full)
                except ValueError:  # it expired between add and incr: add it again
                    continue
                cache.touch(full, self.ttl)  # sliding window: every failure restarts it
                return value
            raise RuntimeError(f"counter {full} kept vanishing")

        value = self._call("incr", incr)
        if value is _FAILED:
            return None
        self._count("incr", "ok")
        return int(value)

    def count(self, key: str) -> int:
        raw = self._call("get", lambda c: c.get(self._key(key)))
        if raw is _FAILED:
            return 0
        self._count("get", "miss" if raw is None else "hit")
        return int(raw or 0)

    # --- internals ---

    def _key(self, key: str) -> str:
        part = quote(key, safe="")
        if len(part) > _MAX_KEY_PART:
            part = "sha256-" + hashlib.sha256(key.encode()).hexdigest()
        return f"{self.name}:v{self.version}:{part}"

    def _call(self, operation: str, action: Any) -> Any:
        if redis_conn.is_down():
            self._count(operation, "error")
            return _FAILED
        try:
            return action(caches[settings.KIMA_CACHE_ALIAS])
        except Exception as error:  # noqa: BLE001 - the cache is optional by design
            redis_conn.mark_failed(error, "cache reads miss and writes are dropped")
            self._count(operation, "error")
            return _FAILED

    def _written(self, done: Any, operation: str) -> bool:
        if done is _FAILED:
            return False
        self._count(operation, "ok")
        return True

    def _count(self, operation: str, result: str) -> None:
        metrics.CACHE_REQUESTS.labels(cache=self.name, operation=operation, result=result).inc()


_FAILED = object()
