"""Webhooks against the real processes: gunicorn receiving what a Lidarr connection
sends, Celery workers killed mid-work, Redis and PostgreSQL stopped during bursts."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import run_manage
from tests.servers import Web, Worker, shell, wait_for
from tests.simulators.lidarr import WebhookConnection

pytestmark = pytest.mark.subprocess

# Lidarr webhook bodies, copied from ../shared/fixtures/lidarr (see the README there).
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "lidarr"
ALL_FIXTURES = sorted(path.stem for path in FIXTURES.glob("*.json"))
assert ALL_FIXTURES, f"no Lidarr fixtures in {FIXTURES}"
HOOK = "/api/webhooks/lidarr"

STATUS_COUNTS = """
import json
from django.db.models import Count
from webhooks.models import WebhookEvent
print(json.dumps(dict(WebhookEvent.objects.values_list("status").annotate(n=Count("id")))))
"""


def fixture(name: str, suffix: str = "") -> dict:
    body = json.loads((FIXTURES / f"{name}.json").read_text())
    body["instanceName"] = f"Lidarr{suffix}"
    if "downloadId" in body:
        body["downloadId"] += suffix
    return body


def lidarr_variants() -> list[dict]:
    """What real deployments send beyond the fixtures (see the fixtures' README)."""
    grab = fixture("Grab", "-multi")
    second = {**grab["albums"][0], "id": 9001, "title": "Disc Two", "mbId": "second-mbid"}
    grab["albums"].append(second)
    downloads = []
    for album in grab["albums"]:
        download = fixture("Download", "-multi")
        download["downloadId"] = grab["downloadId"]
        download["album"] = {**download["album"], "id": album["id"], "title": album["title"]}
        download["trackFiles"] = [
            {**f, "id": f["id"] + album["id"]} for f in download["trackFiles"]
        ]
        downloads.append(download)
    upgrade = {
        **fixture("Download", "-upgrade"),
        "isUpgrade": True,
        "deletedFiles": [{"id": 1, "path": "/music/old/01.mp3", "quality": "MP3-320"}],
    }
    non_latin = fixture("Grab", "-kanji")
    non_latin["artist"]["name"] = "坂本龍一"
    non_latin["albums"][0]["title"] = "async – 非同期"
    test_button = {
        "artist": {
            "id": 1,
            "name": "Test Name",
            "path": "C:\\testpath",
            "mbId": "aaaaa-aaa-aaaa-aaaaaa",
            "tags": ["test-tag"],
        },
        "albums": [{"id": 123, "title": "Test title"}],
        "eventType": "Test",
        "instanceName": "Lidarr",
        "applicationUrl": "",
    }
    return [grab, *downloads, upgrade, non_latin, test_button]  # fmt: skip


def configure(database_url, data_dir, **values) -> None:
    script = f"from settings_app import services; services.update({values!r})"
    result = run_manage("shell", "-c", script, database_url=database_url, data_dir=data_dir)
    assert result.returncode == 0, result.stderr


def statuses(database_url, data_dir, **env) -> dict:
    return shell(STATUS_COUNTS, database_url, data_dir, **env)


def migrate(database_url, data_dir) -> None:
    result = run_manage("migrate", "-v0", database_url=database_url, data_dir=data_dir)
    assert result.returncode == 0, result.stderr


def metric_sum(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_every_fixture_over_http_as_lidarr_sends_it_with_each_auth_mode(tmp_path):
    migrate(None, tmp_path)
    configure(None, tmp_path, lidarr_webhook_secret="", lidarr_webhook_username="")
    web = Web(tmp_path, None)
    try:
        modes = {
            "none": ({}, {}),
            "secret": ({"lidarr_webhook_secret": "shared-s3cret"},
                       {"headers": {"X-Webhook-Secret": "shared-s3cret"}}),
            "basic": ({"lidarr_webhook_username": "lidarr", "lidarr_webhook_password": "pw-ß"},
                      {"username": "lidarr", "password": "pw-ß"}),
        }  # fmt: skip
        for mode, (settings, connection) in modes.items():
            configure(None, tmp_path, **settings)
            time.sleep(0.6)  # settings reach the web workers within RELOAD_SECONDS
            lidarr = WebhookConnection(web.url + HOOK, **connection)
            for name in ALL_FIXTURES:
                response = lidarr.send(fixture(name, suffix=mode))
                assert response.status_code == 200, (mode, name, response.text)
                assert "duplicate" not in response.json()
            if mode != "none":
                intruder = WebhookConnection(web.url + HOOK, username="x", password="y")
                assert intruder.send(fixture("Grab", "intruder")).status_code == 401
            put = WebhookConnection(web.url + HOOK + "/", method="PUT", **connection)
            assert put.send(fixture("Test", suffix=mode + "-put")).status_code == 200
        lidarr = WebhookConnection(web.url + HOOK, username="lidarr", password="pw-ß")
        for variant in lidarr_variants():
            assert lidarr.send(variant).status_code == 200
        expected = 3 * (len(ALL_FIXTURES) + 1) + len(lidarr_variants())
        wait_for(lambda: statuses(None, tmp_path) == {"processed": expected}, 30,
                 message=lambda: f"every event processed: {statuses(None, tmp_path)}")  # fmt: skip
    finally:
        web.stop()


def test_a_duplicate_storm_stores_and_processes_each_event_once(tmp_path):
    migrate(None, tmp_path)
    web = Web(tmp_path, None, workers=3)
    try:
        distinct = [fixture("Grab", suffix=f"-{n}") for n in range(20)]
        distinct += [fixture("ImportFailure", suffix=f"-{n}") for n in range(5)]
        storm = [body for body in distinct for _ in range(8)]
        lidarr = WebhookConnection(web.url + HOOK)
        with ThreadPoolExecutor(max_workers=16) as pool:
            codes = list(pool.map(lambda body: lidarr.send(body).status_code, storm))
        assert set(codes) == {200}
        wait_for(lambda: statuses(None, tmp_path) == {"processed": 25}, 30,
                 message="25 distinct events processed")  # fmt: skip
        text = httpx.get(web.url + "/metrics").text
        assert metric_sum(text, "kima_webhook_events_total", outcome="processed") == 25
        assert metric_sum(text, "kima_webhook_events_total", outcome="accepted") == 25
        assert metric_sum(text, "kima_webhook_events_total", outcome="duplicate") == 175
    finally:
        web.stop()


MAKE_FAILURES = """
import json
from django.utils import timezone
from accounts.models import User
from downloads.models import DownloadJob
from kima.tasks import publish
from webhooks import services
from webhooks.tasks import process_event
user = User.objects.create_user("listener", "pw-123456")
DownloadJob.objects.bulk_create([
    DownloadJob(user=user, subject=f"Album {n}", type="album", status="processing",
                target_mbid=f"mbid-{n}", lidarr_ref=f"HASH{n:04d}")
    for n in range(COUNT)
])
ids = []
for n in range(COUNT):
    body = {"downloadId": f"hash{n:04d}", "releaseTitle": f"Release {n}", "quality": "FLAC",
            "eventType": "DownloadFailure", "instanceName": "Lidarr", "applicationUrl": ""}
    ids.append(services.store_event(body).id)
for event_id in ids:
    publish(process_event, event_id)
print(json.dumps(len(ids)))
"""
JOB_ATTEMPTS = """
import json
from django.db.models import Count
from downloads.models import DownloadJob
print(json.dumps(dict(DownloadJob.objects.values_list("attempts").annotate(n=Count("id")))))
"""


def test_a_worker_killed_mid_batch_loses_and_repeats_nothing(
    tmp_path, pg_database, throwaway_redis
):
    env = {"REDIS_URL": throwaway_redis.url, "WEBHOOK_CLAIM_TIMEOUT": "3",
           "WEBHOOK_SWEEP_MIN_AGE": "0", "DOWNLOAD_RETRY_ATTEMPTS": "3"}  # fmt: skip
    migrate(pg_database, tmp_path)
    assert shell(MAKE_FAILURES.replace("COUNT", "1000"), pg_database, tmp_path, **env) == 1000
    worker = Worker(tmp_path, pg_database, concurrency=2, **env)

    def processed() -> int:
        return statuses(pg_database, tmp_path, **env).get("processed", 0)

    try:
        wait_for(lambda: processed() >= 100, 60, every=0.1, message="the worker started")
    finally:
        worker.kill()
    done_at_kill = processed()
    assert done_at_kill < 1000, "the worker finished before it was killed; use more events"

    replacement = Worker(tmp_path, pg_database, concurrency=2, **env)
    try:

        def swept_and_done() -> bool:
            shell("from webhooks import services; print(services.sweep())", pg_database,
                  tmp_path, **env)  # fmt: skip
            return processed() == 1000

        wait_for(swept_and_done, 120, every=1, message="all 1000 events processed")
    finally:
        replacement.stop()
    assert statuses(pg_database, tmp_path, **env) == {"processed": 1000}
    assert shell(JOB_ATTEMPTS, pg_database, tmp_path, **env) == {"1": 1000}


def test_redis_stopped_during_a_burst_every_event_is_answered_then_processed(
    tmp_path, throwaway_redis
):
    env = {"REDIS_URL": throwaway_redis.url, "WEBHOOK_SWEEP_MIN_AGE": "0"}
    migrate(None, tmp_path)
    web = Web(tmp_path, None, **env)
    try:
        throwaway_redis.stop()
        lidarr = WebhookConnection(web.url + HOOK)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(lidarr.send, [fixture("Grab", f"-{n}") for n in range(60)]))
        assert [r.status_code for r in responses] == [200] * 60
        assert time.monotonic() - started < 10
        assert statuses(None, tmp_path) == {"pending": 60}

        throwaway_redis.start()
        worker = Worker(tmp_path, None, **env)
        try:

            def swept_and_done() -> bool:
                shell("from webhooks import services; print(services.sweep())", None, tmp_path,
                      **env)  # fmt: skip
                return statuses(None, tmp_path) == {"processed": 60}

            wait_for(swept_and_done, 60, every=1, message="processed after Redis returned")
        finally:
            worker.stop()
    finally:
        web.stop()


def test_postgres_stopped_during_a_burst_events_are_spooled_then_ingested_once(
    tmp_path, throwaway_postgres
):
    database = throwaway_postgres.create_database("kima")
    migrate(database, tmp_path)
    env = {"WEBHOOK_CLAIM_TIMEOUT": "3", "WEBHOOK_SWEEP_MIN_AGE": "0"}
    web = Web(tmp_path, database, DATABASE_CONNECT_TIMEOUT="2", **env)
    try:
        lidarr = WebhookConnection(web.url + HOOK)
        for n in range(5):
            assert lidarr.send(fixture("Grab", f"-before-{n}")).status_code == 200
        throwaway_postgres.stop()
        during = [fixture("Grab", f"-during-{n}") for n in range(50)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(lidarr.send, during))
        assert [r.status_code for r in responses] == [200] * 50
        assert all(r.json().get("spooled") for r in responses)
        spooled = sum(len(p.read_text().splitlines())
                      for p in (tmp_path / "webhook-spool").glob("*.jsonl"))  # fmt: skip
        assert spooled == 50

        throwaway_postgres.start()

        def swept_and_done() -> bool:
            # An event being processed when the database went away is claimed by a task
            # that could not finish; the sweep takes it again once the claim is stale.
            shell("from webhooks import services; print(services.sweep())", database,
                  tmp_path, **env)  # fmt: skip
            return statuses(database, tmp_path) == {"processed": 55}

        wait_for(swept_and_done, 60, every=1,
                 message=lambda: f"spooled events processed: {statuses(database, tmp_path)}")  # fmt: skip
        assert list((tmp_path / "webhook-spool").glob("*.jsonl")) == []
        keys = shell("import json; from webhooks.models import WebhookEvent; "
                     "print(json.dumps(sorted(WebhookEvent.objects.values_list('event_id', flat=True))))",
                     database, tmp_path)  # fmt: skip
        assert len(keys) == len(set(keys)) == 55
        assert all(re.match(r"lidarr:Grab:", key) for key in keys)
    finally:
        web.stop()
