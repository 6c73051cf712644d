"""The production shape without Docker: the entrypoint starts migrate, gunicorn with
several workers, a Celery worker and beat against real PostgreSQL and Redis, in
production mode. Lidarr (simulated) sends its webhooks, users request albums, Lidarr
grabs and imports one, /metrics adds up across web workers, and everything stops
cleanly on SIGTERM."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port, manage_env
from tests.servers import Process, shell, wait_for
from tests.simulators.lidarr import LidarrSimulator, WebhookConnection
from tests.simulators.slskd import SlskdSimulator
from tests.test_webhooks_system import ALL_FIXTURES, STATUS_COUNTS, fixture, metric_sum

pytestmark = pytest.mark.subprocess
VENV = Path(sys.executable).parent

MAKE_ADMIN = """
import json
from accounts.authentication import issue_token
from accounts.models import User
admin = User.objects.create_superuser("ops", "pw-123456")
print(json.dumps(issue_token(admin)))
"""


def test_the_whole_stack_runs_serves_and_stops_cleanly(tmp_path, pg_database, throwaway_redis):
    port = free_port()
    env = manage_env(pg_database, tmp_path, REDIS_URL=throwaway_redis.url, PRODUCTION="true",
                     SECRET_KEY="smoke-secret-" * 4, JWT_SECRET="smoke-jwt-" * 5,
                     SETTINGS_ENCRYPTION_KEY="smoke-settings-key-" * 3, KIMA_ALLOW_ROOT="true",
                     PYTHON=sys.executable, GUNICORN=str(VENV / "gunicorn"),
                     CELERY=str(VENV / "celery"), PORT=str(port), WEB_WORKERS="3",
                     PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
                     WEBHOOK_SWEEP_MIN_AGE="0", LOG_LEVEL="WARNING")  # fmt: skip
    entrypoint = str(ROOT / "bin" / "entrypoint")
    migrate = subprocess.run([entrypoint, "migrate"], env=env, capture_output=True, text=True,
                             timeout=180)  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr
    assert "[MIGRATE]" in migrate.stdout
    token = shell(MAKE_ADMIN, pg_database, tmp_path, **{k: env[k] for k in ("JWT_SECRET",
                                                                            "SECRET_KEY")})  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    lidarr, slskd = LidarrSimulator(), SlskdSimulator().start()
    lidarr.setup_library(webhook_url=base + "/api/webhooks/lidarr", username="lidarr",
                         password="smoke-pw")  # fmt: skip
    lidarr.start()
    albums = [(f"rg-smoke-{n}", f"Album {n}", f"Artist {n % 3}", f"ar-{n % 3}") for n in range(10)]
    for album in albums:
        lidarr.add_album(*album)
    processes = {role: Process([entrypoint, role], {**env, "SKIP_MIGRATE": "true"},
                               tmp_path / f"{role}.log")
                 for role in ("web", "worker", "beat")}  # fmt: skip
    try:
        wait_for(lambda: _up(base), 60, message="web answers /livez")
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        settings = {"lidarrUrl": lidarr.url, "lidarrApiKey": lidarr.api_key,
                    "lidarrWebhookUsername": "lidarr", "lidarrWebhookPassword": "smoke-pw",
                    "slskdUrl": slskd.url, "slskdApiKey": slskd.api_key, "publicUrl": base,
                    "downloadSource": "lidarr"}  # fmt: skip
        assert api.patch("/api/system-settings", json=settings).status_code == 200
        assert api.post("/api/system-settings/test-lidarr").json()["ok"] is True
        assert api.post("/api/system-settings/test-slskd").json()["ok"] is True
        time.sleep(0.6)  # every web worker sees the new settings

        job_ids = []
        for mbid, title, artist, _ in albums:
            body = {"mbid": mbid, "subject": f"{artist} - {title}", "artistName": artist,
                    "albumTitle": title}  # fmt: skip
            created = api.post("/api/downloads", json=body)
            assert created.status_code == 201
            assert api.post("/api/downloads", json=body).json()["duplicate"] is True
            job_ids.append(created.json()["id"])

        hook = WebhookConnection(base + "/api/webhooks/lidarr", username="lidarr",
                                 password="smoke-pw")  # fmt: skip
        sent = [fixture(name, "-smoke") for name in ALL_FIXTURES]
        for body in sent:
            assert hook.send(body).status_code == 200
        assert WebhookConnection(base + "/api/webhooks/lidarr").send(sent[0]).status_code == 401

        def all_completed() -> bool:
            statuses = {api.get(f"/api/downloads/{job_id}").json()["status"] for job_id in job_ids}
            return statuses == {"completed"}

        wait_for(all_completed, 90, every=1, message="every album acquired through Lidarr")
        expected_events = len(sent) + len(lidarr.sent)

        def processed() -> bool:
            return shell(STATUS_COUNTS, pg_database, tmp_path, **env) == {
                "processed": expected_events
            }

        wait_for(processed, 60, every=1, message="the worker processed every event")

        text = httpx.get(base + "/metrics").text
        assert metric_sum(text, "kima_webhook_events_total", outcome="accepted") == expected_events
        assert metric_sum(text, "kima_webhook_events_total", outcome="rejected") == 1
        assert 'kima_download_jobs{status="completed"} 10.0' in text
        if shutil.which("promtool"):
            kima_only = "\n".join(line for line in text.splitlines() if "kima_" in line) + "\n"
            check = subprocess.run(["promtool", "check", "metrics"], input=kima_only,
                                   capture_output=True, text=True)  # fmt: skip
            assert check.returncode == 0, check.stdout + check.stderr
    finally:
        for process in processes.values():
            process.stop()
        lidarr.stop()
        slskd.stop()
    for role, process in processes.items():
        assert process.process.returncode == 0, f"{role}:\n{process.output()[-3000:]}"
    assert "Traceback" not in processes["web"].output()


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/livez", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
