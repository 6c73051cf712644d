"""Kima v1.5.x–v1.7.12: public URL, open registration and Lidarr profile ids."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("settings_app", "0002_v1_5_0_integration_columns")]

    operations = [
        migrations.AddField(
            model_name="systemsettings",
            name="public_url",
            field=models.TextField(blank=True, db_column="publicUrl", null=True),
        ),
        migrations.AddField(
            model_name="systemsettings",
            name="registration_open",
            field=models.BooleanField(
                db_column="registrationOpen", db_default=False, default=False
            ),
        ),
        migrations.AddField(
            model_name="systemsettings",
            name="lidarr_quality_profile_id",
            field=models.IntegerField(blank=True, db_column="lidarrQualityProfileId", null=True),
        ),
        migrations.AddField(
            model_name="systemsettings",
            name="lidarr_metadata_profile_id",
            field=models.IntegerField(blank=True, db_column="lidarrMetadataProfileId", null=True),
        ),
    ]
