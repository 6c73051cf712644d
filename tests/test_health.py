"""Health answers with the documented codes for database and Redis up or down."""

from __future__ import annotations

import json
import time

import pytest

from kima import redis_conn
from tests.conftest import free_port, run_manage

HEALTH_PROBE = """
import json, time
from django.test import Client
started = time.monotonic()
response = Client().get("/health")
print(json.dumps({"code": response.status_code, "body": response.json(),
                  "seconds": time.monotonic() - started}))
"""


def probe(tmp_path, database_url=None, **env) -> dict:
    result = run_manage("shell", "-c", HEALTH_PROBE, database_url=database_url,
                        data_dir=tmp_path, **env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.django_db
def test_liveness_touches_nothing(client):
    response = client.get("/livez")
    assert (response.status_code, response.content) == (200, b"ok")


@pytest.mark.django_db
def test_health_is_ok_with_database_and_redis_up(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    redis_conn.reset_for_tests()
    try:
        for path in ("/health", "/api/health"):
            response = client.get(path)
            body = response.json()
            assert response.status_code == 200
            assert body["status"] == "ok"
            assert body["db"]["status"] == body["redis"]["status"] == "up"
            assert body["broker"]["status"] == "up"
            assert body["version"] and body["uptime"] >= 0
    finally:
        redis_conn.reset_for_tests()


@pytest.mark.django_db
def test_health_on_the_embedded_default(client, settings):
    settings.REDIS_URL = ""
    redis_conn.reset_for_tests()
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["redis"] == {"status": "not_configured"}
    assert body["broker"] == {"status": "embedded"}


@pytest.mark.subprocess
def test_redis_down_is_degraded_but_200_and_fast(tmp_path):
    run_manage("migrate", "-v0", database_url=None, data_dir=tmp_path)
    result = probe(tmp_path, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert result["code"] == 200
    assert result["body"]["status"] == "degraded"
    assert result["body"]["redis"]["status"] == "down"
    assert result["seconds"] < 1.0


@pytest.mark.subprocess
def test_database_down_is_503(tmp_path):
    unreachable = f"postgresql://root@127.0.0.1:{free_port()}/kima"
    result = probe(tmp_path, database_url=unreachable, DATABASE_CONNECT_TIMEOUT="2")
    assert result["code"] == 503
    assert result["body"]["status"] == "error"
    assert result["body"]["db"]["status"] == "down"


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
@pytest.mark.django_db
def test_web_requests_stay_fast_while_redis_is_stopped_or_hung(
    client, settings, throwaway_redis, outage
):
    settings.REDIS_URL = throwaway_redis.url
    redis_conn.reset_for_tests()
    try:
        throwaway_redis.stop() if outage == "stopped" else throwaway_redis.freeze()
        started = time.monotonic()
        health = client.get("/health")
        metrics = client.get("/metrics")
        assert time.monotonic() - started < 1.5  # a couple of 0.25 s socket timeouts at most
        assert (health.status_code, health.json()["status"]) == (200, "degraded")
        assert metrics.status_code == 200
        throwaway_redis.start() if outage == "stopped" else throwaway_redis.thaw()
        assert client.get("/health").json()["status"] == "ok"
    finally:
        redis_conn.reset_for_tests()
