"""Every log line carries the request id (web) or the task id (worker)."""

from __future__ import annotations

import io
import logging

import pytest
from celery import shared_task

from kima.log_context import ContextFilter

logger = logging.getLogger("tests.logging")


@pytest.fixture
def log_lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(logging.Formatter("[%(context)s] %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    yield lambda: stream.getvalue().splitlines()
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.mark.django_db
def test_requests_get_an_id_echoed_in_the_response_and_the_log(client, log_lines):
    response = client.get("/api/health")
    request_id = response["X-Request-ID"]
    assert len(request_id) == 16
    assert f"[{request_id}] kima.request GET /api/health 200" in "\n".join(log_lines())


@pytest.mark.django_db
def test_a_callers_request_id_is_kept_and_a_bad_one_replaced(client, log_lines):
    assert client.get("/livez", HTTP_X_REQUEST_ID="proxy-42")["X-Request-ID"] == "proxy-42"
    replaced = client.get("/livez", HTTP_X_REQUEST_ID="bad id\nwith newline")["X-Request-ID"]
    assert replaced != "bad id\nwith newline" and "\n" not in replaced


@shared_task(name="tests.log_something")
def log_something() -> None:
    logger.info("working")


def test_task_log_lines_carry_the_task_id(log_lines):
    log_something.apply(task_id="task-1234")
    logger.info("outside")
    lines = log_lines()
    assert "[task:task-1234] tests.logging working" in lines
    assert "[-] tests.logging outside" in lines
