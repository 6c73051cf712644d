import time

# Process start, for /health's uptime: this package is imported first in every process.
STARTED = time.monotonic()

from kima.celery import app as celery_app  # noqa: E402

__all__ = ["STARTED", "celery_app"]
