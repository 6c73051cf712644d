"""A Lidarr v2 stand-in (see ../shared/reference/lidarr.md). It grows with the
endpoints the service uses; unknown paths answer 404 with Lidarr's `{message}` form."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from tests.simulators.base import Simulator


class LidarrSimulator(Simulator):
    version = "2.14.5.4836"

    def __init__(self) -> None:
        super().__init__()
        self.quality_profiles = [{"id": 1, "name": "Any"}, {"id": 2, "name": "Lossless"}]
        self.metadata_profiles = [{"id": 1, "name": "Standard"}]
        self.root_folders = [{"id": 1, "path": "/music", "defaultQualityProfileId": 2,
                              "defaultMetadataProfileId": 1}]  # fmt: skip
        self.notifications: list[dict] = []
        self.queue: list[dict] = []
        self.removed: list[dict] = []  # (queue id, blocklist, skipRedownload) of each removal
        self.route("GET", "/api/v1/system/status", self.system_status)
        self.route("GET", "/api/v1/qualityprofile", lambda q, b: (200, self.quality_profiles))
        self.route("GET", "/api/v1/metadataprofile", lambda q, b: (200, self.metadata_profiles))
        self.route("GET", "/api/v1/rootfolder", lambda q, b: (200, self.root_folders))
        self.route("GET", "/api/v1/notification", lambda q, b: (200, self.notifications))
        self.route("GET", "/api/v1/queue", self.queue_page)
        self.route("DELETE", r"/api/v1/queue/(\d+)", self.queue_remove)

    def authorized(self, headers: Any, query: dict) -> bool:
        # Lidarr checks ?apikey= first, then X-Api-Key, then a Bearer token.
        bearer = headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return self.api_key in (query.get("apikey"), headers.get("X-Api-Key"), bearer)

    def system_status(self, query: dict, body: Any) -> tuple[int, Any]:
        return 200, {"appName": "Lidarr", "instanceName": "Lidarr", "version": self.version,
                     "urlBase": "", "isDocker": True}  # fmt: skip

    def queue_page(self, query: dict, body: Any) -> tuple[int, Any]:
        page, size = int(query.get("page", 1)), int(query.get("pageSize", 10))
        records = self.queue[(page - 1) * size : page * size]
        return 200, {"page": page, "pageSize": size, "totalRecords": len(self.queue),
                     "records": records}  # fmt: skip

    def queue_remove(self, query: dict, body: Any, queue_id: str) -> tuple[int, Any]:
        record = next((r for r in self.queue if r["id"] == int(queue_id)), None)
        if record is None:
            return 404, {"message": "NotFound"}
        self.queue.remove(record)
        self.removed.append({"id": record["id"], "blocklist": query.get("blocklist"),
                             "skipRedownload": query.get("skipRedownload")})  # fmt: skip
        return 200, {}

    def add_queue_record(self, download_id: str, album_id: int, state: str = "downloading",
                         messages: list[str] | None = None) -> dict:  # fmt: skip
        record = {"id": len(self.queue) + len(self.removed) + 1, "downloadId": download_id,
                  "albumId": album_id, "status": "completed", "trackedDownloadState": state,
                  "trackedDownloadStatus": "warning" if messages else "ok",
                  "statusMessages": [{"title": "import", "messages": messages or []}],
                  "title": f"release {download_id}"}  # fmt: skip
        self.queue.append(record)
        return record

    def add_webhook_connection(self, url: str) -> None:
        self.notifications.append({
            "id": len(self.notifications) + 1, "name": "Kima", "implementation": "Webhook",
            "configContract": "WebhookSettings", "fields": [{"name": "url", "value": url}],
        })  # fmt: skip


class WebhookConnection:
    """Lidarr's side of a webhook connection: sends bodies as Lidarr does (pretty JSON,
    its headers, pre-emptive Basic auth, custom headers, no retry)."""

    def __init__(self, url: str, username: str = "", password: str = "",
                 headers: dict[str, str] | None = None, method: str = "POST") -> None:  # fmt: skip
        self.url = url
        self.method = method
        self.headers = {"Content-Type": "application/json", "Accept": "application/json",
                        "User-Agent": f"Lidarr/{LidarrSimulator.version} (ubuntu 24.04)",
                        **(headers or {})}  # fmt: skip
        if username or password:
            token = base64.b64encode(f"{username}:{password}".encode("latin-1")).decode()
            self.headers["Authorization"] = f"Basic {token}"
        self.client = httpx.Client(timeout=100, follow_redirects=True)

    def send(self, payload: dict) -> httpx.Response:
        body = json.dumps(payload, indent=2, ensure_ascii=False).encode()
        return self.client.request(self.method, self.url, content=body, headers=self.headers)

    def close(self) -> None:
        self.client.close()
