"""The process's Redis client for locks, the cache wrapper, health and task bookkeeping.

Every caller uses short socket timeouts, and after any failure Redis is skipped for
REDIS_RETRY_AFTER seconds (a small circuit breaker), so a dead or hung Redis costs a
request at most one short timeout, not one per call. The first failure is logged once
per process; the recovery is logged too.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

SOCKET_TIMEOUT = 0.25  # seconds; a hung Redis costs at most this per call

_client: Any = None
_client_lock = threading.Lock()
_skip_until = 0.0
_down_logged = False


def redis_client() -> Any:
    """The shared Redis client, or None when REDIS_URL is not configured."""
    global _client
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None
    with _client_lock:
        if _client is None:
            import redis

            _client = redis.Redis.from_url(
                url,
                socket_timeout=SOCKET_TIMEOUT,
                socket_connect_timeout=SOCKET_TIMEOUT,
                health_check_interval=30,
            )
    return _client


def usable_client() -> Any:
    """The client, or None when Redis is not configured or recently failed."""
    if time.monotonic() < _skip_until:
        return None
    return redis_client()


def is_down() -> bool:
    """True while Redis is configured but recently failed (callers use their fallback)."""
    return time.monotonic() < _skip_until


def mark_failed(error: Exception, purpose: str) -> None:
    """Record a Redis failure: callers skip Redis for a while and use their fallback."""
    global _skip_until, _down_logged
    _skip_until = time.monotonic() + float(getattr(settings, "REDIS_RETRY_AFTER", 5.0))
    if not _down_logged:
        _down_logged = True
        logger.warning("Redis unavailable (%s: %s); %s", type(error).__name__, error, purpose)


def mark_ok() -> None:
    global _down_logged
    if _down_logged:
        _down_logged = False
        logger.info("Redis is reachable again")


def reset_for_tests() -> None:
    """Forget the client and the breaker (tests point REDIS_URL at throwaway servers)."""
    global _client, _skip_until, _down_logged
    _client = None
    _skip_until = 0.0
    _down_logged = False
