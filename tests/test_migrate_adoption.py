"""`migrate` adopts Kima databases of every release in place, on real PostgreSQL."""

from __future__ import annotations

import time

import psycopg
import pytest

from tests import kima_legacy
from tests.conftest import run_manage, start_manage
from tests.schema_snapshot import differences, snapshot

pytestmark = [pytest.mark.postgres, pytest.mark.subprocess]

ADMIN_LOGIN_CHECK = f"""
from django.test import Client
client = Client()
response = client.post("/admin/login/?next=/admin/", {{"username": "admin", "password": {kima_legacy.ADMIN_PASSWORD!r}}})
assert response.status_code == 302 and response.url == "/admin/", response.status_code
assert client.get("/admin/").status_code == 200
outsider = Client()
response = outsider.post("/admin/login/?next=/admin/", {{"username": "listener", "password": {kima_legacy.USER_PASSWORD!r}}})
assert response.status_code == 200, "a non-admin Kima user must not get into the admin"
from accounts.models import User
from settings_app.models import SystemSettings
User.objects.create_user("newcomer", "pw-newcomer")  # valid for Kima columns we do not model
SystemSettings.load().save()
print("LOGIN-OK")
"""


def slice_snapshot(url: str) -> dict[str, set]:
    """The schema of our tables, leaving out the columns other parts of Kima own."""
    found = snapshot(url)
    found["columns"] = {
        column for column in found["columns"]
        if (column[0], column[1]) not in kima_legacy.OTHER_KIMA_COLUMNS
    }  # fmt: skip
    return found


def build_legacy(url: str, version: str, *extra_sql: str) -> kima_legacy.LegacyRows:
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        rows = kima_legacy.build(cursor, version)
        for statement in extra_sql:
            cursor.execute(statement)
    return rows


def migrate(url: str, tmp_path, *args: str):
    return run_manage("migrate", "--no-input", *args, database_url=url, data_dir=tmp_path)


def recorded_migrations(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('django_migrations')").fetchone()[0]
        if not exists:
            return []
        return conn.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()


def table_counts(url: str, tables) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


@pytest.fixture(scope="module")
def reference_schema(tmp_path_factory, postgres_server):
    """The schema a fresh database gets from our migrations: what the models expect."""
    import uuid

    from tests.conftest import database_url

    name = f"kima_ref_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        result = migrate(database_url(name), tmp_path_factory.mktemp("ref"))
        assert result.returncode == 0, result.stderr
        yield snapshot(database_url(name))
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_fresh_database_migrates_and_a_second_run_changes_nothing(pg_database, tmp_path):
    first = migrate(pg_database, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "[MIGRATE] applied accounts.0001_initial" in first.stdout
    assert "adopted" not in first.stdout.replace("0 adopted", "")
    recorded = recorded_migrations(pg_database)

    second = migrate(pg_database, tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "[MIGRATE] Database is up to date; nothing to do."
    assert recorded_migrations(pg_database) == recorded


@pytest.mark.parametrize("version", kima_legacy.VERSIONS)
def test_kima_database_is_adopted_in_place(version, pg_database, tmp_path, reference_schema):
    rows = build_legacy(pg_database, version)

    result = migrate(pg_database, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for adopted in ("accounts.0001_initial", "settings_app.0001_initial", "downloads.0001_initial"):
        assert f"[MIGRATE] adopted {adopted}" in out
    if version == "1.4.3":
        assert "[MIGRATE] applied webhooks.0001_initial" in out
        assert "[MIGRATE] applied downloads.0002_v1_5_0_discoverybatch_version" in out
    else:
        assert "[MIGRATE] adopted webhooks.0001_initial" in out
        assert "[MIGRATE] adopted downloads.0002_v1_5_0_discoverybatch_version" in out
    if version == "1.7.12":
        assert "[MIGRATE] adopted downloads.0004_v1_6_target_mbid_nullable" in out
    # Every row is still there, including tables and columns we do not model.
    if version == "1.7.12":
        assert ("User", "listeningPrefs") in {c[:2] for c in snapshot(pg_database)["columns"]}
    assert table_counts(pg_database, rows.counts) == rows.counts
    # The schema is exactly what a fresh install gets.
    assert differences(reference_schema, slice_snapshot(pg_database)) == []
    # Each migration recorded once.
    recorded = recorded_migrations(pg_database)
    assert len(recorded) == len(set(recorded))
    # Duplicate active jobs Kima allowed are closed, never deleted; the newest is kept.
    with psycopg.connect(pg_database) as conn:
        statuses = dict(conn.execute('SELECT id, status FROM "DownloadJob"').fetchall())
        errors = dict(conn.execute('SELECT id, error FROM "DownloadJob"').fetchall())
        soulseek_enabled = conn.execute('SELECT "soulseekEnabled" FROM "SystemSettings"').fetchone()
    assert set(statuses) == set(rows.job_ids)
    for job_id in rows.duplicate_job_ids:
        assert statuses[job_id] == "failed"
        assert "Duplicate of active job" in errors[job_id]
        assert f"DownloadJob {job_id}: duplicate of active job" in out
    for job_id in rows.kept_job_ids:
        assert statuses[job_id] in ("pending", "processing")
    assert soulseek_enabled == (True,)
    # The Kima admin logs into Django's admin with the password they already have.
    login = run_manage(
        "shell", "-c", ADMIN_LOGIN_CHECK, database_url=pg_database, data_dir=tmp_path
    )
    assert "LOGIN-OK" in login.stdout, login.stdout + login.stderr
    # And the next start is a no-op.
    again = migrate(pg_database, tmp_path)
    assert again.stdout.strip() == "[MIGRATE] Database is up to date; nothing to do."
    assert recorded_migrations(pg_database) == recorded


def test_plan_shows_decisions_and_writes_nothing(pg_database, tmp_path):
    build_legacy(pg_database, "1.4.3")
    before = snapshot(pg_database)

    result = migrate(pg_database, tmp_path, "--plan")

    assert result.returncode == 0, result.stderr
    assert "[MIGRATE] plan: adopt accounts.0001_initial" in result.stdout
    assert "[MIGRATE] plan: apply webhooks.0001_initial" in result.stdout
    assert "(nothing written)" in result.stdout
    assert recorded_migrations(pg_database) == []
    assert snapshot(pg_database) == before


@pytest.mark.parametrize(
    ("version", "drift", "reported"),
    [
        pytest.param(
            "1.5.0", 'ALTER TABLE "SystemSettings" DROP COLUMN "lastfmEnabled"',
            "[MIGRATE] completed settings_app.0002_v1_5_0_integration_columns "
            "(partly present; to do: column SystemSettings.lastfmEnabled is missing)",
            id="missing settings column is completed",
        ),
        pytest.param("1.5.0", 'DROP TABLE "WebhookEvent"', "[MIGRATE] applied webhooks.0001_initial",
                     id="missing webhook table is created"),
        pytest.param("1.7.12", 'DROP INDEX "DownloadJob_status_idx"',
                     "[MIGRATE] completed downloads.0001_initial", id="missing index is created"),
    ],
)  # fmt: skip
def test_drift_is_repaired(pg_database, tmp_path, reference_schema, version, drift, reported):
    build_legacy(pg_database, version, drift)

    result = migrate(pg_database, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert reported in result.stdout
    assert differences(reference_schema, slice_snapshot(pg_database)) == []


def test_unsafe_difference_is_refused_and_nothing_is_written(pg_database, tmp_path):
    build_legacy(
        pg_database,
        "1.5.0",
        'ALTER TABLE "DownloadJob" ALTER COLUMN "attempts" DROP DEFAULT',
        'ALTER TABLE "DownloadJob" ALTER COLUMN "attempts" TYPE text',
        'ALTER TABLE "SystemSettings" DROP COLUMN "lastfmEnabled"',
    )
    before = snapshot(pg_database)

    result = migrate(pg_database, tmp_path)

    assert result.returncode != 0
    assert "[MIGRATE] refused downloads.0001_initial:" in result.stdout
    assert "column DownloadJob.attempts has type text, expected integer" in result.stdout
    assert "nothing was written" in result.stderr
    assert "Traceback" not in result.stderr
    assert recorded_migrations(pg_database) == []
    assert snapshot(pg_database) == before


def test_django_fake_initial_would_record_a_missing_column(pg_database, tmp_path):
    """The hazard this command exists for: Django's --fake-initial checks table names only."""
    build_legacy(pg_database, "1.5.0", 'ALTER TABLE "DownloadJob" DROP COLUMN "cleared"')

    ours = migrate(pg_database, tmp_path, "--plan")
    assert "complete downloads.0001_initial" in ours.stdout
    assert "column DownloadJob.cleared is missing" in ours.stdout


@pytest.mark.parametrize("version", [None, "1.4.3"])
def test_ten_concurrent_migrators_each_record_every_migration_once(version, pg_database, tmp_path):
    if version:
        build_legacy(pg_database, version)
    processes = [start_manage("migrate", "--no-input", database_url=pg_database,
                              data_dir=tmp_path) for _ in range(10)]  # fmt: skip
    outputs = [proc.communicate(timeout=180) for proc in processes]

    for proc, (out, err) in zip(processes, outputs, strict=True):
        assert proc.returncode == 0, out + err
        assert "already exists" not in err
    recorded = recorded_migrations(pg_database)
    assert len(recorded) == len(set(recorded))
    plan_check = migrate(pg_database, tmp_path, "--check")
    assert plan_check.returncode == 0, plan_check.stdout
    winners = [out for out, _ in outputs if "summary:" in out]
    assert len(winners) == 1


def test_a_migrator_that_cannot_get_the_lock_gives_up_clearly(pg_database, tmp_path):
    from kima.migrate_lock import MIGRATE_LOCK_KEY

    with psycopg.connect(pg_database, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK_KEY])
        result = run_manage(
            "migrate", "--no-input", database_url=pg_database, data_dir=tmp_path,
            MIGRATE_LOCK_TIMEOUT="1",
        )  # fmt: skip
    assert result.returncode != 0
    assert "waiting up to 1 s" in result.stdout
    assert "Gave up after 1 s waiting for another migrator" in result.stderr
    assert recorded_migrations(pg_database) == []


def test_a_killed_migrator_leaves_no_lock_behind(pg_database, tmp_path):
    from kima.migrate_lock import MIGRATE_LOCK_KEY

    with psycopg.connect(pg_database, autocommit=True) as conn:
        victim = start_manage("migrate", "--no-input", database_url=pg_database, data_dir=tmp_path)
        for _ in range(200):  # wait until it holds the lock, then kill it mid-run
            held = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s",
                [MIGRATE_LOCK_KEY],
            ).fetchone()[0]
            if held:
                break
            time.sleep(0.01)
        victim.kill()
        victim.wait()
    result = migrate(pg_database, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "waiting" not in result.stdout
    recorded = recorded_migrations(pg_database)
    assert len(recorded) == len(set(recorded))
    assert migrate(pg_database, tmp_path, "--check").returncode == 0
