"""Celery wiring: in-process on the embedded default; publishing never hangs a request."""

from __future__ import annotations

import json
import socket
import textwrap
import time

import pytest

from tests.conftest import run_manage

PUBLISH_PROBE = textwrap.dedent(
    """
    import json, time
    from celery import shared_task
    from kima.tasks import publish

    @shared_task(name="probe.add")
    def add(a, b):
        return a + b

    started = time.monotonic()
    ok = publish(add, 1, 2)
    first = time.monotonic() - started
    again = publish(add, 1, 2)
    print(json.dumps({"published": ok, "seconds": first, "again": again,
                      "again_seconds": time.monotonic() - started - first}))
    """
)


def run_probe(tmp_path, **env) -> dict:
    result = run_manage("shell", "-c", PUBLISH_PROBE, database_url=None, data_dir=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_embedded_default_runs_tasks_in_process():
    from celery import shared_task
    from django.conf import settings

    from kima.tasks import publish

    calls = []

    @shared_task(name="tests.record")
    def record(value):
        calls.append(value)

    if settings.CELERY_TASK_ALWAYS_EAGER:
        assert publish(record, 7)
        assert calls == [7]
    else:
        pytest.skip("REDIS_URL is set: tasks go to the broker")


@pytest.mark.subprocess
def test_publishing_to_a_hung_broker_gives_up_quickly(tmp_path):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        started = time.monotonic()
        result = run_probe(tmp_path, REDIS_URL=f"redis://127.0.0.1:{port}/0")
    assert result["published"] is False
    assert result["seconds"] < 2.0  # bounded by the 0.5 s broker socket timeout
    # Once the broker failed, publishing is not tried again for REDIS_RETRY_AFTER seconds.
    assert result["again"] is False
    assert result["again_seconds"] < 0.05
    assert time.monotonic() - started < 30


@pytest.mark.subprocess
def test_publishing_to_a_live_broker_succeeds(tmp_path):
    result = run_probe(tmp_path, REDIS_URL="redis://127.0.0.1:6379/14")
    assert result["published"] is True
    assert result["again"] is True
    assert result["seconds"] < 1.0
