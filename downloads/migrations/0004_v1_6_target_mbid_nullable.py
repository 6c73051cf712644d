"""Kima v1.6: `DownloadJob.targetMbid` nullable (direct Soulseek downloads have none)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("downloads", "0003_v1_5_0_active_download_unique")]

    operations = [
        migrations.AlterField(
            model_name="downloadjob",
            name="target_mbid",
            field=models.TextField(blank=True, db_column="targetMbid", null=True),
        ),
    ]
