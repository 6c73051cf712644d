"""Settings for scheduler tests: the service's settings plus one fast periodic job."""

import os

from kima.settings import *  # noqa: F403
from kima.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.periodic_app"]
CELERY_BEAT_SCHEDULE = {
    "tests.tick": {"task": "tests.tick", "schedule": float(os.environ.get("TICK_EVERY", "1"))}
}
