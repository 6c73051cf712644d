"""Kima v1.5.0: `DiscoveryBatch.version` for optimistic locking."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("downloads", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="discoverybatch",
            name="version",
            field=models.IntegerField(db_default=0, default=0),
        ),
    ]
