"""Periodic jobs, run at most once per interval however many schedulers fire them.

Production runs one Celery beat; the embedded default has no broker, so a scheduler
thread in each web worker calls the jobs in-process. Either way a second beat, a
restarted beat or two embedded threads may fire the same job at the same moment, so each
run first claims the job in the database: one conditional UPDATE moves `last_run_at`
forward only if the previous run started more than half an interval ago. Exactly one
caller wins; the others skip. Being a database write, the guard holds with Redis down.

Jobs are declared with `@periodic_task("name")` and scheduled in
`settings.CELERY_BEAT_SCHEDULE` under the same name.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections
from django.db.models import Q
from django.utils import timezone

from kima import metrics
from kima.locks import Lock
from kima.models import PeriodicRun

logger = logging.getLogger(__name__)


def interval_seconds(name: str) -> float:
    schedule = settings.CELERY_BEAT_SCHEDULE[name]["schedule"]
    return schedule.total_seconds() if isinstance(schedule, timedelta) else float(schedule)


def claim_run(name: str, every: float) -> bool:
    """True for the one caller allowed to run `name` now."""
    now = timezone.now()
    PeriodicRun.objects.bulk_create([PeriodicRun(name=name)], ignore_conflicts=True)
    not_recent = Q(last_run_at__isnull=True) | Q(
        last_run_at__lte=now - timedelta(seconds=every / 2)
    )
    return PeriodicRun.objects.filter(not_recent, name=name).update(last_run_at=now) == 1


def periodic_task(name: str) -> Callable[[Callable[[], Any]], Any]:
    """Register `fn` as the Celery task `name`, guarded by `claim_run`."""

    def decorate(fn: Callable[[], Any]) -> Any:
        @shared_task(name=name)
        @functools.wraps(fn)
        def run() -> Any:
            if not claim_run(name, interval_seconds(name)):
                metrics.PERIODIC_RUNS.labels(job=name, outcome="skipped").inc()
                logger.info("periodic %s skipped: it already ran this interval", name)
                return "skipped"
            # The claim spaces the starts; the lock keeps a slow run (a Lidarr that
            # answers slowly) from overlapping the next one.
            running = Lock(f"periodic:{name}", ttl=settings.CELERY_TASK_TIME_LIMIT)
            if not running.acquire():
                metrics.PERIODIC_RUNS.labels(job=name, outcome="skipped").inc()
                logger.info("periodic %s skipped: its previous run is still going", name)
                return "skipped"
            try:
                metrics.PERIODIC_RUNS.labels(job=name, outcome="ran").inc()
                return fn()
            finally:
                running.release()

        return run

    return decorate


def run_embedded_scheduler(stop: threading.Event, tick: float = 1.0) -> None:
    """The embedded default's beat: call every scheduled job in this process when due."""
    from kima.celery import app

    app.loader.import_default_modules()  # web processes never import the apps' tasks.py
    next_due = dict.fromkeys(settings.CELERY_BEAT_SCHEDULE, 0.0)
    while not stop.wait(tick):
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
            if time.monotonic() < next_due[name]:
                continue
            next_due[name] = time.monotonic() + interval_seconds(name)
            try:
                app.tasks[entry["task"]].apply()
            except Exception:  # a failing job must not stop the others
                logger.exception("periodic %s failed", name)
            finally:
                close_old_connections()


def start_embedded_scheduler() -> threading.Event:
    stop = threading.Event()
    thread = threading.Thread(
        target=run_embedded_scheduler, args=(stop,), name="kima-scheduler", daemon=True
    )
    thread.start()
    return stop
