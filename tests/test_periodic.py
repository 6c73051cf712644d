"""Periodic jobs run once per interval, however many schedulers fire them; tasks carry
bounded redelivery and their id on log lines."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import shared_task
from django.db import connection

from kima import redis_conn
from kima.locks import Lock
from kima.periodic import claim_run
from tests.concurrency import all_at_once
from tests.conftest import ROOT, free_port, manage_env, run_manage


@pytest.mark.django_db(transaction=True)
def test_only_one_of_many_simultaneous_callers_claims_a_run():
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers from threads need PostgreSQL (SQLite serialises them)")
    results = all_at_once(lambda _: claim_run("tests.race", every=60), 8)
    assert sorted(results) == [False] * 7 + [True]


@pytest.mark.django_db
def test_a_job_may_run_again_once_half_its_interval_has_passed():
    assert claim_run("tests.again", every=0.4)
    assert not claim_run("tests.again", every=0.4)
    time.sleep(0.25)
    assert claim_run("tests.again", every=0.4)


@pytest.mark.django_db
def test_a_run_that_outlasts_its_interval_is_not_overlapped(settings):
    from downloads.tasks import dispatch

    settings.CELERY_BEAT_SCHEDULE = {**settings.CELERY_BEAT_SCHEDULE,
                                     "downloads.dispatch": {"task": "downloads.dispatch",
                                                            "schedule": 0.01}}  # fmt: skip
    with Lock("periodic:downloads.dispatch"):  # the previous run is still going
        assert dispatch() == "skipped"
    time.sleep(0.02)
    assert dispatch() == 0  # nothing pending: it ran


def tick_times(log: Path) -> list[float]:
    if not log.exists():
        return []
    return sorted(float(line.split()[0]) for line in log.read_text().splitlines())


def assert_once_per_interval(times: list[float], seconds: float) -> None:
    # Two schedulers without the guard would each run the job: pairs milliseconds apart.
    assert 2 <= len(times) <= seconds + 2, times
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.5, times


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.subprocess
def test_two_celery_beats_run_a_job_once_per_interval(tmp_path, pg_database, throwaway_redis):
    env = manage_env(
        pg_database, tmp_path, REDIS_URL=throwaway_redis.url,
        DJANGO_SETTINGS_MODULE="tests.periodic_settings", TICK_LOG=str(tmp_path / "ticks"),
    )  # fmt: skip
    assert run_manage("migrate", "-v0", database_url=pg_database, data_dir=tmp_path).returncode == 0
    celery = [sys.executable, "-m", "celery", "-A", "kima"]
    processes = [
        start([*celery, "worker", "-c", "2", "-l", "warning"], env, tmp_path / "worker.log"),
        *[
            start(
                [*celery, "beat", "-s", str(tmp_path / f"beat{n}"), "--pidfile=", "-l", "warning"],
                env,
                tmp_path / f"beat{n}.log",
            )  # fmt: skip
            for n in (1, 2)
        ],
    ]
    try:
        time.sleep(6)
    finally:
        stop(processes)
    assert_once_per_interval(tick_times(tmp_path / "ticks"), 6)


@pytest.mark.subprocess
def test_the_embedded_scheduler_runs_jobs_without_a_broker(tmp_path):
    """Two gunicorn workers each run the scheduler thread; the job still runs once a second."""
    env = manage_env(
        None, tmp_path, DJANGO_SETTINGS_MODULE="tests.periodic_settings",
        TICK_LOG=str(tmp_path / "ticks"), PORT=str(free_port()), WEB_WORKERS="2",
    )  # fmt: skip
    assert run_manage("migrate", "-v0", database_url=None, data_dir=tmp_path).returncode == 0
    server = start(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "kima.wsgi"],
        env, tmp_path / "gunicorn.log",
    )  # fmt: skip
    try:
        time.sleep(5)
    finally:
        stop([server])
    assert_once_per_interval(tick_times(tmp_path / "ticks"), 5)


@shared_task(name="tests.count_runs")
def count_runs(box: list) -> None:
    box.append(1)


def test_a_task_delivered_too_often_is_dropped(settings, shared_redis):
    settings.REDIS_URL = shared_redis
    settings.CELERY_MAX_DELIVERIES = 3
    redis_conn.reset_for_tests()
    runs: list[int] = []
    task_id = f"poison-{time.monotonic_ns()}"
    try:
        for _ in range(5):  # the same message, redelivered after each worker death
            count_runs.push_request(id=task_id, retries=0, is_eager=False)
            try:
                count_runs(runs)
            finally:
                count_runs.pop_request()
        assert len(runs) == 3
        # A retry is a new attempt with its own budget.
        count_runs.push_request(id=task_id, retries=1, is_eager=False)
        count_runs(runs)
        count_runs.pop_request()
        assert len(runs) == 4
    finally:
        redis_conn.reset_for_tests()
