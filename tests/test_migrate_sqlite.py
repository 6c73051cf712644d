"""The embedded default: SQLite in DATA_DIR migrates cleanly, once, even when raced."""

from __future__ import annotations

import sqlite3

import pytest

from tests.conftest import run_manage, start_manage

pytestmark = pytest.mark.subprocess


def recorded(data_dir) -> list[tuple[str, str]]:
    with sqlite3.connect(data_dir / "kima.sqlite3") as conn:
        return conn.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()


def test_fresh_sqlite_migrates_and_a_second_run_is_a_no_op(tmp_path):
    first = run_manage("migrate", "--no-input", database_url=None, data_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "[MIGRATE] applied downloads.0001_initial" in first.stdout
    applied = recorded(tmp_path)

    second = run_manage("migrate", "--no-input", database_url=None, data_dir=tmp_path)
    assert second.stdout.strip() == "[MIGRATE] Database is up to date; nothing to do."
    assert recorded(tmp_path) == applied

    check = run_manage(
        "makemigrations", "--check", "--dry-run", database_url=None, data_dir=tmp_path
    )
    assert check.returncode == 0, check.stdout


def test_concurrent_sqlite_migrators_are_serialized(tmp_path):
    processes = [
        start_manage("migrate", "--no-input", database_url=None, data_dir=tmp_path)
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=120) for proc in processes]
    assert [proc.returncode for proc in processes] == [0] * 4, outputs
    applied = recorded(tmp_path)
    assert len(applied) == len(set(applied))
    assert sum("summary:" in out for out, _ in outputs) == 1
