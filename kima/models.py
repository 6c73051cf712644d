"""Bookkeeping tables of the service itself (not Kima's)."""

from django.db import models


class PeriodicRun(models.Model):
    """When a periodic job last started (see `kima.periodic`)."""

    name = models.CharField(max_length=100, primary_key=True)
    last_run_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} (last run {self.last_run_at})"
