"""Ours: a finished download job (completed, failed, exhausted) never changes status.

Kima moved jobs out of final states (failed -> completed, completed -> failed, ...); a
retry here is a new job. The rule is enforced by the database so that no code path, ours
or an older one, can break it. Idempotent: the trigger is replaced if it exists.
"""

from django.db import migrations

from kima.migration_ops import IdempotentRunPython

FINISHED = "('completed', 'failed', 'exhausted')"

POSTGRES = f"""
CREATE OR REPLACE FUNCTION kima_download_job_stays_finished() RETURNS trigger AS $$
BEGIN
    IF OLD.status IN {FINISHED} AND NEW.status IS DISTINCT FROM OLD.status THEN
        RAISE EXCEPTION 'DownloadJob % is %, a final state; retry creates a new job',
            OLD.id, OLD.status USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS "DownloadJob_stays_finished" ON "DownloadJob";
CREATE TRIGGER "DownloadJob_stays_finished" BEFORE UPDATE OF status ON "DownloadJob"
    FOR EACH ROW EXECUTE FUNCTION kima_download_job_stays_finished();
"""

SQLITE = [
    'DROP TRIGGER IF EXISTS "DownloadJob_stays_finished"',
    f"""CREATE TRIGGER "DownloadJob_stays_finished" BEFORE UPDATE OF status ON "DownloadJob"
    WHEN OLD.status IN {FINISHED} AND NEW.status IS NOT OLD.status
    BEGIN SELECT RAISE(ABORT, 'DownloadJob is in a final state; retry creates a new job'); END""",
]


def install_trigger(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor == "postgresql":
            cursor.execute(POSTGRES)
        else:
            for statement in SQLITE:
                cursor.execute(statement)


def remove_trigger(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            'DROP TRIGGER IF EXISTS "DownloadJob_stays_finished"'
            + (' ON "DownloadJob"' if schema_editor.connection.vendor == "postgresql" else "")
        )


class Migration(migrations.Migration):
    dependencies = [("downloads", "0004_v1_6_target_mbid_nullable")]

    operations = [IdempotentRunPython(install_trigger, reverse_code=remove_trigger)]
