"""Kima v1.5.0: five integration columns, and `soulseekEnabled` for configured users.

Kima's backfill set the flag on every row with a Soulseek username. Ours fills only
rows where the flag is still unset, so running it again (adoption re-runs it) never
re-enables Soulseek for an operator who switched it off.
"""

from django.db import migrations, models

import kima.migration_ops


def enable_soulseek_where_configured(apps, schema_editor):
    SystemSettings = apps.get_model("settings_app", "SystemSettings")
    (
        SystemSettings.objects.using(schema_editor.connection.alias)
        .filter(soulseek_enabled__isnull=True, soulseek_username__isnull=False)
        .exclude(soulseek_username="")
        .update(soulseek_enabled=True)
    )


class Migration(migrations.Migration):
    dependencies = [("settings_app", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="systemsettings",
            name="soulseek_enabled",
            field=models.BooleanField(blank=True, db_column="soulseekEnabled", null=True),
        ),
        migrations.AddField(
            model_name="systemsettings",
            name="soulseek_download_path",
            field=models.TextField(blank=True, db_column="soulseekDownloadPath", null=True),
        ),
        migrations.AddField(
            model_name="systemsettings",
            name="lastfm_api_secret",
            field=models.TextField(blank=True, db_column="lastfmApiSecret", null=True),
        ),
        migrations.AddField(
            model_name="systemsettings",
            name="lastfm_user_key",
            field=models.TextField(blank=True, db_column="lastfmUserKey", null=True),
        ),
        migrations.AddField(
            model_name="systemsettings",
            name="lastfm_enabled",
            field=models.BooleanField(blank=True, db_column="lastfmEnabled", null=True),
        ),
        kima.migration_ops.IdempotentRunPython(enable_soulseek_where_configured),
    ]
