"""gunicorn settings for `bin/serve` and the container's web service."""

import os
import shutil
from pathlib import Path

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_WORKERS", "2"))
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = 20
accesslog = None  # kima.log_context logs one line per request, with its request id

# Several workers: each writes its metric samples here and /metrics merges them.
_data_dir = Path(os.environ.get("DATA_DIR", Path(__file__).resolve().parent / "data"))
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(_data_dir / "metrics"))


def on_starting(server):
    # Samples of a previous run would be added to this run's counters.
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)


def post_worker_init(worker):
    from django.conf import settings

    from webhooks.spool import start_drainer

    start_drainer()  # webhooks spooled while the database was down go in when it is back
    if settings.EMBEDDED_SCHEDULER:
        from kima.periodic import start_embedded_scheduler

        start_embedded_scheduler()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
