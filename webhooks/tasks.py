"""Celery tasks for webhooks. Each may run twice: processing claims the event first."""

from __future__ import annotations

from celery import shared_task

from kima.periodic import periodic_task
from webhooks import reconcile, services, spool


@shared_task(name="webhooks.process_event")
def process_event(event_id: str) -> str | None:
    return services.process(event_id)


@periodic_task("webhooks.sweep")
def sweep() -> int:
    """Committed but never processed, due for a retry, or claimed by a dead worker."""
    return services.sweep()


@periodic_task("webhooks.purge")
def purge() -> int:
    return services.purge()


@periodic_task("webhooks.drain_spool")
def drain_spool() -> int:
    return spool.drain()


@shared_task(name="webhooks.reconcile_lidarr_queue")
def reconcile_lidarr_queue() -> dict:
    return reconcile.reconcile_queue()


@periodic_task("webhooks.reconcile_lidarr_queue_periodic")
def reconcile_lidarr_queue_periodic() -> dict:
    return reconcile.reconcile_queue()
