"""Settings across processes: live reload without a restart (and without Redis), and
how the encryption key is found at start."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, free_port, manage_env, run_manage

pytestmark = pytest.mark.subprocess

WATCH = """
import sys, time
from settings_app import services
print("ready", flush=True)
deadline = time.time() + 15
while time.time() < deadline:
    if services.effective().lidarr_url == "http://changed:8686":
        print(f"seen {time.time():.3f}", flush=True)
        sys.exit(0)
    time.sleep(0.01)
sys.exit(1)
"""
CHANGE = """
import time
from settings_app import services
services.update({"lidarr_url": "http://changed:8686"})
print(f"saved {time.time():.3f}")
"""


def test_a_saved_change_reaches_other_processes_within_a_second(tmp_path, pg_database):
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"  # the reload must not need Redis
    assert run_manage("migrate", "-v0", database_url=pg_database, data_dir=tmp_path).returncode == 0
    run_manage("shell", "-c", "from settings_app import services; services.update({'lidarr_url': 'http://before:8686'})",
               database_url=pg_database, data_dir=tmp_path)  # fmt: skip
    env = manage_env(pg_database, tmp_path, REDIS_URL=dead_redis)
    watchers = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "shell", "-c", WATCH],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )  # fmt: skip
        for _ in range(2)
    ]
    for watcher in watchers:
        while (line := watcher.stdout.readline()) and line.strip() != "ready":
            pass  # Django's shell may print a banner first
        assert line.strip() == "ready"
    time.sleep(0.7)  # let both watchers cache the old value
    changed = run_manage("shell", "-c", CHANGE, database_url=pg_database, data_dir=tmp_path,
                         REDIS_URL=dead_redis)  # fmt: skip
    saved_at = float(changed.stdout.split("saved ")[-1])
    for watcher in watchers:
        output, _ = watcher.communicate(timeout=20)
        assert watcher.returncode == 0, "the change was never seen"
        seen_at = float(output.split("seen ")[-1])
        assert seen_at - saved_at < 1.0


def test_production_refuses_to_start_without_an_encryption_key(tmp_path):
    result = run_manage("check", database_url=None, data_dir=tmp_path, PRODUCTION="true",
                        SECRET_KEY="s" * 50, JWT_SECRET="j" * 50)  # fmt: skip
    assert result.returncode != 0
    assert "SETTINGS_ENCRYPTION_KEY is not set" in result.stderr
    assert not (tmp_path / ".settings_encryption_key").exists()


def test_production_refuses_kimas_published_placeholder_key(tmp_path):
    result = run_manage("check", database_url=None, data_dir=tmp_path, PRODUCTION="true",
                        SECRET_KEY="s" * 50, JWT_SECRET="j" * 50,
                        SETTINGS_ENCRYPTION_KEY="default-encryption-key-change-me")  # fmt: skip
    assert result.returncode != 0
    assert "placeholder" in result.stderr


def test_the_embedded_default_creates_and_keeps_a_key_file(tmp_path):
    assert run_manage("check", database_url=None, data_dir=tmp_path).returncode == 0
    key_file = tmp_path / ".settings_encryption_key"
    first = key_file.read_text()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert run_manage("check", database_url=None, data_dir=tmp_path).returncode == 0
    assert key_file.read_text() == first


def test_rotating_the_embedded_key_keeps_every_secret_readable(tmp_path):
    assert run_manage("migrate", "-v0", database_url=None, data_dir=tmp_path).returncode == 0
    run_manage("shell", "-c", "from settings_app import services; services.update({'slskd_api_key': 'sk-1'})",
               database_url=None, data_dir=tmp_path)  # fmt: skip
    old_key = (tmp_path / ".settings_encryption_key").read_text()
    result = run_manage("rotate_settings_key", "--generate", database_url=None, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".settings_encryption_key").read_text() != old_key
    read = run_manage("shell", "-c", "from settings_app import services; print(services.effective().slskd_api_key)",
                      database_url=None, data_dir=tmp_path)  # fmt: skip
    assert read.stdout.strip().splitlines()[-1] == "sk-1"
