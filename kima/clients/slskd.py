"""slskd REST API v0 client (see ../shared/reference/slskd.md)."""

from __future__ import annotations

from kima.clients.base import IntegrationError, JsonClient

__all__ = ["IntegrationError", "SlskdClient"]


class SlskdClient(JsonClient):
    service = "slskd"

    def application(self) -> dict:
        """Version, server connection and login state."""
        return self.request("GET", "/api/v0/application", "application") or {}
