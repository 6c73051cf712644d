"""Named locks exclude across processes, survive Redis going away, and are expiry-safe."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from kima import redis_conn
from kima.locks import Lock
from tests.conftest import ROOT, free_port, manage_env

pytestmark = pytest.mark.subprocess


def run_counter_workers(
    tmp_path: Path, processes: int, rounds: int, database_url: str | None = None, **env: str
) -> tuple[int, set]:
    counter = tmp_path / "counter"
    counter.write_text("0")
    worker = [sys.executable, str(ROOT / "tests" / "lock_worker.py"), str(counter), str(rounds)]
    children = [
        subprocess.Popen(
            worker, env=manage_env(database_url, tmp_path, **env),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(processes)
    ]  # fmt: skip
    backends = set()
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        backends |= set(out.strip().splitlines()[-1].split(","))
    return int(counter.read_text()), backends


def test_redis_lock_excludes_across_processes(tmp_path, shared_redis):
    total, backends = run_counter_workers(tmp_path, 4, 50, REDIS_URL=shared_redis)
    assert (total, backends) == (200, {"redis"})


def test_postgres_fallback_excludes_across_processes(tmp_path, pg_database):
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"],
        env=manage_env(pg_database, tmp_path), check=True,
    )  # fmt: skip
    total, backends = run_counter_workers(tmp_path, 4, 50, pg_database, REDIS_URL=dead_redis)
    assert (total, backends) == (200, {"postgres"})


def test_file_lock_excludes_across_processes_on_the_embedded_default(tmp_path):
    total, backends = run_counter_workers(tmp_path, 4, 50)
    assert (total, backends) == (200, {"file"})


@pytest.fixture
def redis_locks(settings, shared_redis):
    settings.REDIS_URL = shared_redis
    redis_conn.reset_for_tests()
    yield
    redis_conn.reset_for_tests()


def test_an_expired_holder_cannot_release_or_extend_the_next_holders_lock(redis_locks):
    first = Lock("test:expiry", ttl=0.1)
    assert first.acquire()
    time.sleep(0.2)
    second = Lock("test:expiry", ttl=5)
    assert second.acquire()
    assert second.backend == "redis"
    assert first.extend() is False
    assert first.release() is False
    assert redis_conn.redis_client().get(second.key) == second.token.encode()
    assert second.release() is True


def test_waiting_acquire_gets_the_lock_when_it_is_freed(redis_locks):
    holder = Lock("test:wait", ttl=0.3)
    assert holder.acquire()
    started = time.monotonic()
    assert Lock("test:wait", wait=0.05).acquire() is False
    waiter = Lock("test:wait", wait=2)
    assert waiter.acquire()  # after the holder's ttl runs out
    assert 0.2 < time.monotonic() - started < 1.5
    waiter.release()


def test_locks_fall_back_while_redis_is_down_and_recover(settings, throwaway_redis, db):
    settings.REDIS_URL = throwaway_redis.url
    settings.REDIS_RETRY_AFTER = 0.2
    redis_conn.reset_for_tests()
    try:
        with Lock("test:outage") as lock:
            assert lock.backend == "redis"
        throwaway_redis.stop()

        started = time.monotonic()
        during = Lock("test:outage")
        assert during.acquire()
        assert time.monotonic() - started < 1.0
        assert during.backend in ("postgres", "file")
        assert Lock("test:outage").acquire() is False  # still excludes
        assert during.release()

        throwaway_redis.start()
        time.sleep(0.2)  # locks look at Redis again once REDIS_RETRY_AFTER has passed
        with Lock("test:outage") as lock:
            assert lock.backend == "redis"
    finally:
        redis_conn.reset_for_tests()
