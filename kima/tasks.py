"""Publishing tasks without ever making a web request wait for the broker.

The database row is the source of truth for every piece of background work, and
periodic sweeps pick up rows whose message never made it; so a publish that fails
(broker down or hung) is logged and dropped, not retried in the request.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)


def publish(task: Any, *args: Any, **kwargs: Any) -> bool:
    """Send a task now; False (and a log line) if the broker could not take it."""
    try:
        task.apply_async(args=args, kwargs=kwargs, retry=False)
    except Exception as error:  # noqa: BLE001 - the sweep will find the work later
        logger.warning("could not publish %s: %s", task.name, error)
        return False
    return True


def publish_on_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Send a task once the current transaction has committed (never before)."""
    transaction.on_commit(lambda: publish(task, *args, **kwargs))
