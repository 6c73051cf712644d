"""What the Lidarr and slskd clients share: timeouts, error translation, a metric per call."""

from __future__ import annotations

import time
from typing import Any

import httpx
from prometheus_client import Counter, Histogram

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)

CALLS = Counter(
    "kima_integration_requests_total",
    "Calls to Lidarr and slskd by service, endpoint (a fixed name) and outcome.",
    ["service", "endpoint", "outcome"],
)
CALL_SECONDS = Histogram(
    "kima_integration_request_duration_seconds",
    "Duration of calls to Lidarr and slskd.",
    ["service", "endpoint"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class IntegrationError(Exception):
    """A call failed. `kind`: unreachable, timeout, unauthorized, http, invalid_response."""

    def __init__(self, service: str, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.service = service
        self.kind = kind
        self.status = status
        self.message = message


class JsonClient:
    service = "service"

    def __init__(self, base_url: str, api_key: str | None, timeout: httpx.Timeout | None = None):
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.base_url,
            headers={"X-Api-Key": api_key or "", "Accept": "application/json"},
            timeout=timeout or DEFAULT_TIMEOUT,
            follow_redirects=False,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> JsonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, endpoint: str, **kwargs: Any) -> Any:
        """Send one request; JSON (or None for an empty body), else IntegrationError.
        `endpoint` is the metric label: a fixed name, never the URL."""
        started = time.perf_counter()
        outcome = "ok"
        try:
            response = self.http.request(method, path, **kwargs)
            if response.status_code == 401:
                raise IntegrationError(self.service, "unauthorized",
                                       f"{self.service} rejected the API key (401)", 401)  # fmt: skip
            if 300 <= response.status_code < 400:  # redirects are not followed: say so
                where = response.headers.get("Location", "elsewhere")
                raise IntegrationError(self.service, "http", f"{self.service} redirected to "
                                       f"{where[:200]}; check the URL", response.status_code)  # fmt: skip
            if response.status_code >= 400:
                raise IntegrationError(self.service, "http", self.error_message(response),
                                       response.status_code)  # fmt: skip
            return self._json(response)
        except httpx.TimeoutException as error:
            outcome = "timeout"
            raise IntegrationError(self.service, "timeout",
                                   f"{self.service} did not answer in time ({error})") from error  # fmt: skip
        except httpx.TransportError as error:
            outcome = "unreachable"
            raise IntegrationError(self.service, "unreachable",
                                   f"cannot reach {self.service} at {self.base_url}: {error}") from error  # fmt: skip
        except IntegrationError as error:
            outcome = error.kind
            raise
        finally:
            CALLS.labels(self.service, endpoint, outcome).inc()
            CALL_SECONDS.labels(self.service, endpoint).observe(time.perf_counter() - started)

    def _json(self, response: httpx.Response) -> Any:
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError as error:
            raise IntegrationError(self.service, "invalid_response",
                                   f"{self.service} sent a body that is not JSON") from error  # fmt: skip

    def error_message(self, response: httpx.Response) -> str:
        return f"{self.service} answered HTTP {response.status_code}: {response.text[:300]}"
