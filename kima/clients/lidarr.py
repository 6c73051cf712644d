"""Lidarr REST API v1 client (see ../shared/reference/lidarr.md)."""

from __future__ import annotations

from typing import Any

import httpx

from kima.clients.base import IntegrationError, JsonClient

__all__ = ["IntegrationError", "LidarrClient", "lidarr_error_message"]


def lidarr_error_message(status: int, body: Any) -> str:
    """Lidarr's three error-body forms: a validation array, {message, ...}, or empty."""
    if isinstance(body, list):
        details = [str(item.get("errorMessage", item)) for item in body if isinstance(item, dict)]
        if details:
            return f"Lidarr refused the request (HTTP {status}): " + "; ".join(details)
    if isinstance(body, dict) and body.get("message"):
        return f"Lidarr answered HTTP {status}: {body['message']}"
    return f"Lidarr answered HTTP {status}"


class LidarrClient(JsonClient):
    service = "Lidarr"

    def error_message(self, response: httpx.Response) -> str:
        try:
            body = response.json() if response.content.strip() else None
        except ValueError:
            body = None
        return lidarr_error_message(response.status_code, body)

    def system_status(self) -> dict:
        return self.request("GET", "/api/v1/system/status", "system_status")

    def quality_profiles(self) -> list[dict]:
        return self.request("GET", "/api/v1/qualityprofile", "qualityprofile") or []

    def metadata_profiles(self) -> list[dict]:
        return self.request("GET", "/api/v1/metadataprofile", "metadataprofile") or []

    def root_folders(self) -> list[dict]:
        return self.request("GET", "/api/v1/rootfolder", "rootfolder") or []

    def notifications(self) -> list[dict]:
        return self.request("GET", "/api/v1/notification", "notification") or []

    def queue(self, page_size: int = 200, max_pages: int = 50) -> list[dict]:
        """Every queue record, page by page (Lidarr's default page is small)."""
        records: list[dict] = []
        for page in range(1, max_pages + 1):
            body = self.request("GET", "/api/v1/queue", "queue", params={
                "page": page, "pageSize": page_size, "includeUnknownArtistItems": "true",
            }) or {}  # fmt: skip
            batch = body.get("records") or []
            records.extend(batch)
            if len(records) >= int(body.get("totalRecords") or 0) or not batch:
                break
        return records

    def remove_from_queue(self, queue_id: int, blocklist: bool = True,
                          skip_redownload: bool = False) -> None:  # fmt: skip
        """Remove a queue item from Lidarr and its download client; with `blocklist`
        Lidarr will not grab that release again, and searches again unless skipped."""
        self.request("DELETE", f"/api/v1/queue/{int(queue_id)}", "queue_remove", params={
            "removeFromClient": "true", "blocklist": str(blocklist).lower(),
            "skipRedownload": str(skip_redownload).lower(),
        })  # fmt: skip


def field_value(resource: dict, name: str) -> Any:
    """The value of `name` in a Lidarr provider resource's `fields` list."""
    for field in resource.get("fields", []):
        if field.get("name") == name:
            return field.get("value")
    return None
