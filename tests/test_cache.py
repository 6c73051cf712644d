"""Named caches: JSON values with TTLs, metrics, and Redis trouble read as a miss.

The same behaviour is checked on the embedded local-memory cache and on a real Redis.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from prometheus_client import REGISTRY

from downloads import soulseek_cache
from kima import redis_conn
from kima.cache import NamedCache


def redis_cache_settings(settings, url: str) -> None:
    settings.REDIS_URL = url
    settings.REDIS_RETRY_AFTER = 0.3
    settings.CACHES = {
        "default": {
            "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25},
        }
    }
    redis_conn.reset_for_tests()


@pytest.fixture(params=["locmem", "redis"])
def backend(request, settings):
    if request.param == "redis":
        redis_cache_settings(settings, request.getfixturevalue("shared_redis"))
    else:
        settings.REDIS_URL = ""
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    yield request.param
    redis_conn.reset_for_tests()


RUN = uuid.uuid4().hex[:8]  # the shared Redis outlives a test run; keep runs apart


def sample(cache: str, operation: str, result: str) -> float:
    labels = {"cache": cache, "operation": operation, "result": result}
    return REGISTRY.get_sample_value("kima_cache_requests_total", labels) or 0.0


def test_values_round_trip_as_json_and_count_hits_and_misses(backend):
    cache = NamedCache(f"t-json-{RUN}", ttl=60)
    hits, misses = sample(f"t-json-{RUN}", "get", "hit"), sample(f"t-json-{RUN}", "get", "miss")
    assert cache.get("album") is None
    assert cache.set("album", {"title": "Ágætis byrjun", "tracks": [1, 2], "ok": True})
    assert cache.get("album") == {"title": "Ágætis byrjun", "tracks": [1, 2], "ok": True}
    assert sample(f"t-json-{RUN}", "get", "hit") == hits + 1
    assert sample(f"t-json-{RUN}", "get", "miss") == misses + 1
    assert cache.delete("album")
    assert cache.get("album") is None


def test_entries_expire_after_their_ttl(backend):
    cache = NamedCache(f"t-ttl-{RUN}", ttl=1)
    cache.set("k", "v")
    assert cache.get("k") == "v"
    time.sleep(1.3)
    assert cache.get("k") is None


def test_a_new_version_does_not_read_old_entries(backend):
    NamedCache(f"t-ver-{RUN}", ttl=60, version=1).set("k", {"shape": "old"})
    assert NamedCache(f"t-ver-{RUN}", ttl=60, version=2).get("k") is None
    assert NamedCache(f"t-ver-{RUN}", ttl=60, version=1).get("k") == {"shape": "old"}


def test_odd_keys_are_safe(backend):
    cache = NamedCache(f"t-keys-{RUN}", ttl=60)
    for key in ["user name with spaces", "ユーザー", "a" * 1000, "new\nline"]:
        cache.set(key, key)
        assert cache.get(key) == key


def test_failed_peer_blocklist_blocks_after_three_failures(backend):
    peer = f"peer-{backend}-{time.monotonic_ns()}"
    assert not soulseek_cache.is_peer_blocked(peer)
    assert soulseek_cache.record_peer_failure(peer) == 1
    assert soulseek_cache.record_peer_failure(peer) == 2
    assert not soulseek_cache.is_peer_blocked(peer)
    assert soulseek_cache.record_peer_failure(peer) == 3
    assert soulseek_cache.is_peer_blocked(peer)
    assert not soulseek_cache.is_peer_blocked(peer + "-other")


def test_failed_peer_increments_are_atomic(backend):
    peer = f"busy-{backend}-{time.monotonic_ns()}"

    def fail_many():
        for _ in range(25):
            soulseek_cache.record_peer_failure(peer)

    threads = [threading.Thread(target=fail_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert soulseek_cache.failed_peers.count(peer) == 200


def test_every_failure_restarts_the_24h_window(settings, shared_redis):
    redis_cache_settings(settings, shared_redis)
    peer = f"sliding-{time.monotonic_ns()}"
    soulseek_cache.record_peer_failure(peer)
    client = redis_conn.redis_client()
    key = next(iter(client.scan_iter(f"*slskd-failed-peer:v1:{peer}")))
    client.expire(key, 10)  # pretend most of the window has passed
    soulseek_cache.record_peer_failure(peer)
    assert client.ttl(key) > 24 * 3600 - 5
    redis_conn.reset_for_tests()


def test_search_sessions_round_trip(backend):
    session = {"jobId": "job-1", "query": "Sigur Rós Takk", "startedAt": "2026-11-25T12:00:00Z"}
    assert soulseek_cache.remember_search("search-1", session)
    assert soulseek_cache.recall_search("search-1") == session
    soulseek_cache.forget_search("search-1")
    assert soulseek_cache.recall_search("search-1") is None


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
def test_redis_trouble_reads_as_a_miss_quickly_and_recovers(settings, throwaway_redis, outage):
    redis_cache_settings(settings, throwaway_redis.url)
    cache = NamedCache(f"t-outage-{RUN}", ttl=60)
    assert cache.set("k", [1])
    errors = sample(f"t-outage-{RUN}", "get", "error")

    throwaway_redis.stop() if outage == "stopped" else throwaway_redis.freeze()
    started = time.monotonic()
    assert cache.get("k") is None
    assert not cache.set("k", [2])
    assert soulseek_cache.record_peer_failure("peer") is None
    assert not soulseek_cache.is_peer_blocked("peer")
    # One short socket timeout at most, then the breaker skips Redis altogether.
    assert time.monotonic() - started < 1.0
    assert sample(f"t-outage-{RUN}", "get", "error") == errors + 1

    throwaway_redis.start() if outage == "stopped" else throwaway_redis.thaw()
    time.sleep(0.4)  # REDIS_RETRY_AFTER
    assert cache.set("k", [3])
    assert cache.get("k") == [3]
    redis_conn.reset_for_tests()
