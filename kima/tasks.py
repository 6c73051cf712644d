"""Task plumbing shared by every app.

- `publish` / `publish_on_commit`: send a task without ever making a web request wait
  for the broker. The database row is the source of truth for every piece of background
  work and periodic sweeps pick up rows whose message never made it, so a publish that
  fails (broker down or hung) is logged and dropped, not retried in the request.
- `KimaTask`, the base class of every task: tags log lines with the task id and bounds
  redelivery. With `acks_late`, a task whose worker dies is delivered again; a task
  that kills its worker every time would loop forever, so after CELERY_MAX_DELIVERIES
  deliveries of the same attempt it is dropped with an error line and a metric.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from typing import Any

from celery import Task
from django.conf import settings
from django.db import transaction

from kima import metrics, redis_conn
from kima.log_context import current_id

logger = logging.getLogger(__name__)

DELIVERY_COUNT_TTL = 24 * 3600


def publish(task: Any, *args: Any, **kwargs: Any) -> bool:
    """Send a task now; False (and a log line) if the broker could not take it.

    While Redis is known to be down (see `kima.redis_conn`) the send is not even tried.
    """
    if redis_conn.is_down() and not settings.CELERY_TASK_ALWAYS_EAGER:
        logger.info("not publishing %s: Redis is down; the periodic sweep will run it", task.name)
        return False
    try:
        task.apply_async(args=args, kwargs=kwargs, retry=False)
    except Exception as error:  # noqa: BLE001 - the sweep will find the work later
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            redis_conn.mark_failed(error, "tasks are left to the periodic sweeps")
        logger.warning("could not publish %s: %s", task.name, error)
        return False
    return True


def publish_on_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Send a task once the current transaction has committed (never before)."""
    transaction.on_commit(lambda: publish(task, *args, **kwargs))


_background: queue.Queue | None = None
_background_pid = 0
_background_lock = threading.Lock()
BACKGROUND_QUEUE_SIZE = 10_000


def publish_in_background(task: Any, *args: Any) -> bool:
    """Publish from a thread of this process, so the caller never waits for the broker
    (nor, on the embedded default, for the task itself). False if the queue is full;
    like a lost publish, the periodic sweeps then find the work."""
    try:
        _background_queue().put_nowait((task, args))
    except queue.Full:
        logger.warning("background publish queue full; %s left to the sweep", task.name)
        return False
    return True


def _background_queue() -> queue.Queue:
    global _background, _background_pid
    with _background_lock:
        if _background is None or _background_pid != os.getpid():  # new, or forked
            _background = queue.Queue(maxsize=BACKGROUND_QUEUE_SIZE)
            _background_pid = os.getpid()
            thread = threading.Thread(target=_publish_forever, args=(_background,),
                                      name="kima-publisher", daemon=True)  # fmt: skip
            thread.start()
    return _background


def _publish_forever(pending: queue.Queue) -> None:
    from django.db import connections

    while True:
        task, args = pending.get()
        try:
            publish(task, *args)
        except Exception:  # an eager task that failed must not stop the publisher
            logger.exception("background task %s failed", task.name)
        finally:
            if pending.empty():  # idle: do not hold a database connection (embedded tasks)
                connections.close_all()
            pending.task_done()


def wait_for_background_publishes() -> None:
    """Block until everything queued so far was published (tests, graceful shutdown)."""
    if _background is not None and _background_pid == os.getpid():
        _background.join()


class KimaTask(Task):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        token = current_id.set(f"task:{self.request.id}" if self.request.id else "-")
        try:
            if self._delivered_too_often():
                return None
            return super().__call__(*args, **kwargs)
        finally:
            current_id.reset(token)

    def _delivered_too_often(self) -> bool:
        request = self.request
        if request.is_eager or not request.id:
            return False
        client = redis_conn.usable_client()
        if client is None:
            return False  # without Redis we cannot count; running again is safe
        key = f"kima:deliveries:{request.id}:{request.retries or 0}"
        try:
            deliveries, _ = client.pipeline().incr(key).expire(key, DELIVERY_COUNT_TTL).execute()
        except Exception as error:  # noqa: BLE001
            redis_conn.mark_failed(error, "task deliveries are not counted")
            return False
        limit = settings.CELERY_MAX_DELIVERIES
        if deliveries <= limit:
            return False
        logger.error("dropping %s %s: delivered %d times (limit %d)", self.name, request.id,
                     deliveries, limit)  # fmt: skip
        metrics.CELERY_TASKS_ABANDONED.labels(task=self.name).inc()
        return True
