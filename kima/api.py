"""API-wide conventions: errors are `{"error": message, ...}` like Kima's, never HTML."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = exception_handler(exc, context)
    if response is None:
        return None  # unexpected: Django's 500 handling (logged)
    data = response.data
    if isinstance(data, dict) and "error" in data:
        body = {key: _plain(value) for key, value in data.items()}
    elif isinstance(data, dict) and set(data) == {"detail"}:
        body = {"error": str(data["detail"])}
    else:
        body = {"error": "Invalid request", "fields": data}
    response.data = body
    return response


def _plain(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1 and not isinstance(value[0], (dict, list)):
        return str(value[0])
    return value
