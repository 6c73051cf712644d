"""bin/entrypoint with stub commands: a late database, one that never comes, a failing
migration, root, and missing production secrets."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT

STUBS = ROOT / "tests" / "stubs"


def run(tmp_path: Path, role: str = "web", **env: str) -> tuple[subprocess.CompletedProcess, list]:
    log = tmp_path / "calls.log"
    base = {"PATH": os.environ["PATH"], "STUB_LOG": str(log), "PYTHON": str(STUBS / "python"),
            "GUNICORN": str(STUBS / "process"), "CELERY": str(STUBS / "process"),
            "KIMA_ALLOW_ROOT": "true", "DATABASE_WAIT_TIMEOUT": "10"}  # fmt: skip
    result = subprocess.run([str(ROOT / "bin" / "entrypoint"), role], env={**base, **env},
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls


def test_a_late_database_is_waited_for_then_migrate_then_the_service(tmp_path):
    result, calls = run(tmp_path, STUB_DB_READY_AFTER="3")
    assert result.returncode == 0, result.stderr
    assert calls == ["python manage.py check_database"] * 3 + [
        "python manage.py migrate --no-input", "started process -c gunicorn.conf.py kima.wsgi"]  # fmt: skip
    assert result.stdout.count("waiting for the database") == 2


def test_a_database_that_never_answers_is_a_clear_failure(tmp_path):
    result, calls = run(tmp_path, STUB_DB_READY_AFTER="never", DATABASE_WAIT_TIMEOUT="2")
    assert result.returncode == 69
    assert "did not answer within 2s" in result.stderr and "connection refused" in result.stderr
    assert not any("migrate" in call or "started" in call for call in calls)


def test_a_failed_migration_stops_the_start(tmp_path):
    result, calls = run(tmp_path, STUB_MIGRATE_EXIT="1")
    assert result.returncode == 70
    assert "migrate failed; the service was not started" in result.stderr
    assert not any(call.startswith("started") for call in calls)


@pytest.mark.parametrize(
    ("role", "started"),
    [("worker", "started process -A kima worker"), ("beat", "started process -A kima beat")],
)
def test_worker_and_beat_wait_for_the_database_but_do_not_migrate(tmp_path, role, started):
    result, calls = run(tmp_path, role)
    assert result.returncode == 0, result.stderr
    assert not any("migrate" in call for call in calls)
    assert calls[-1].startswith(started)


def test_the_migrate_role_migrates_and_exits(tmp_path):
    result, calls = run(tmp_path, "migrate", SKIP_MIGRATE="true")
    assert result.returncode == 0
    assert calls[-1] == "python manage.py migrate --no-input"


def test_skip_migrate_when_a_one_shot_service_already_ran(tmp_path):
    result, calls = run(tmp_path, SKIP_MIGRATE="true")
    assert result.returncode == 0
    assert not any("migrate" in call for call in calls)


def test_root_is_refused_with_a_clear_message(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root can check the refusal of root")
    result, calls = run(tmp_path, KIMA_ALLOW_ROOT="false")
    assert result.returncode == 64 and "refusing to run as root" in result.stderr
    assert calls == []


def test_production_without_secrets_is_refused(tmp_path):
    result, calls = run(tmp_path, PRODUCTION="true", SECRET_KEY="s" * 40, JWT_SECRET="j" * 40)
    assert result.returncode == 78
    assert "SETTINGS_ENCRYPTION_KEY is not set" in result.stderr
    assert calls == []
    ok, _ = run(tmp_path, PRODUCTION="true", SECRET_KEY="s" * 40, JWT_SECRET="j" * 40,
                SETTINGS_ENCRYPTION_KEY_FILE="/run/secrets/key")  # fmt: skip
    assert ok.returncode == 0


def test_any_other_command_is_executed_as_given(tmp_path):
    result, _ = run(tmp_path, "echo")
    assert result.returncode == 0
