"""/metrics and /api/metrics: access rules, kima_ families that promtool accepts,
backlog gauges from the database, and counters that add up across gunicorn workers."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from accounts.models import User
from downloads.models import DownloadJob
from tests.conftest import run_manage
from tests.servers import Web
from webhooks.models import WebhookEvent


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = "promtool (Debian package prometheus) is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def promtool_check(text: str) -> None:
    kima_only = "\n".join(
        line for line in text.splitlines() if re.match(r"^(# (HELP|TYPE) )?kima_", line)
    )
    result = subprocess.run(
        [promtool(), "check", "metrics"], input=kima_only + "\n", capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def value(text: str, name: str, **labels: str) -> float | None:
    """The sample `name{labels}` in an exposition text (label order as written)."""
    want = ",".join(f'{key}="{val}"' for key, val in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" (\S+)"
    match = re.search(r"^" + pattern + r"$", text, re.M)
    return float(match.group(1)) if match else None


@pytest.mark.django_db
def test_metrics_are_open_by_default_and_pass_promtool(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "kima_django_http_requests_total_by_method_total" in text
    assert "kima_download_jobs" in text
    promtool_check(text)


@pytest.mark.django_db
def test_metrics_token_is_required_when_configured(client, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


@pytest.mark.django_db
def test_api_metrics_is_for_admins_only(client):
    assert client.get("/api/metrics").status_code == 401
    User.objects.create_user("listener", "pass-1234")
    client.login(username="listener", password="pass-1234")
    assert client.get("/api/metrics").status_code == 403
    User.objects.create_superuser("boss", "pass-1234")
    client.login(username="boss", password="pass-1234")
    response = client.get("/api/metrics")
    assert response.status_code == 200
    assert b"kima_download_jobs" in response.content


@pytest.mark.django_db
def test_backlog_gauges_are_read_from_the_database(client):
    user = User.objects.create_user("listener", "pass-1234")
    for n, status in enumerate(["pending", "pending", "processing", "failed"]):
        DownloadJob.objects.create(
            user=user, subject=f"A - B{n}", type="album", status=status, target_mbid=f"mbid-{n}"
        )
    DownloadJob.objects.create(user=user, subject="C", type="album", status="failed", cleared=True)
    WebhookEvent.objects.create(event_id="e1", source="lidarr", event_type="Grab", payload={})
    WebhookEvent.objects.create(
        event_id="e2",
        source="lidarr",
        event_type="Grab",
        payload={},
        processed=True,
        status="processed",
    )
    text = client.get("/metrics").content.decode()
    assert value(text, "kima_download_jobs", status="pending") == 2
    assert value(text, "kima_download_jobs", status="processing") == 1
    assert value(text, "kima_download_jobs", status="failed") == 1
    assert value(text, "kima_download_jobs", status="completed") == 0
    assert value(text, "kima_webhook_events_backlog", status="pending") == 1
    assert value(text, "kima_webhook_events_backlog", status="dead") == 0


@pytest.mark.subprocess
def test_counters_add_up_across_gunicorn_workers(tmp_path):
    """Three workers serve 90 requests between two scrapes; the scrape counts all 90."""
    assert run_manage("migrate", "-v0", database_url=None, data_dir=tmp_path).returncode == 0
    server = Web(tmp_path, None, workers=3)
    base = server.url
    try:
        metric = "kima_django_http_requests_total_by_method_total"
        before = value(httpx.get(f"{base}/metrics").text, metric, method="GET")

        def hit(_: int) -> str:
            with httpx.Client() as fresh:  # a new connection each time spreads the load
                return fresh.get(f"{base}/livez").text

        with ThreadPoolExecutor(max_workers=12) as pool:
            assert set(pool.map(hit, range(90))) == {"ok"}
        text = httpx.get(f"{base}/metrics").text
        # The 90 requests plus the second scrape itself (counted before it renders).
        assert value(text, metric, method="GET") == before + 91
        writers = list((tmp_path / "metrics").glob("counter_*.db"))
        assert len(writers) >= 2, "the requests should have been served by several workers"
        promtool_check(text)
    finally:
        server.stop()
    assert server.process.returncode == 0, server.output()
