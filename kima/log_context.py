"""A per-request / per-task id on every log line.

Web processes tag lines with the request id (the caller's `X-Request-ID` when it is
sane, else a fresh one, echoed in the response); Celery workers tag them with the task
id (set by `kima.tasks.KimaTask`). Lines outside either carry "-".
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

current_id: contextvars.ContextVar[str] = contextvars.ContextVar("kima_log_id", default="-")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Container health checks hit these every few seconds; their lines would drown the rest.
_QUIET_PATHS = ("/livez", "/health", "/metrics")

request_logger = logging.getLogger("kima.request")


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.context = current_id.get()
        return True


class RequestIdMiddleware:
    """Binds a request id for the request's log lines and logs one line per request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.headers.get("X-Request-ID", "")
        request_id = offered if _SAFE_REQUEST_ID.match(offered) else uuid.uuid4().hex[:16]
        token = current_id.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            level = logging.DEBUG if request.path in _QUIET_PATHS else logging.INFO
            request_logger.log(
                level,
                "%s %s %s %.1fms",
                request.method,
                request.path,
                response.status_code,
                (time.perf_counter() - started) * 1000,
            )
            return response
        finally:
            current_id.reset(token)
