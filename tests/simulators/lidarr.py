"""A Lidarr v2 stand-in (see ../shared/reference/lidarr.md). It grows with the
endpoints the service uses; unknown paths answer 404 with Lidarr's `{message}` form."""

from __future__ import annotations

from typing import Any

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
        self.route("GET", "/api/v1/system/status", self.system_status)
        self.route("GET", "/api/v1/qualityprofile", lambda q, b: (200, self.quality_profiles))
        self.route("GET", "/api/v1/metadataprofile", lambda q, b: (200, self.metadata_profiles))
        self.route("GET", "/api/v1/rootfolder", lambda q, b: (200, self.root_folders))
        self.route("GET", "/api/v1/notification", lambda q, b: (200, self.notifications))

    def authorized(self, headers: Any, query: dict) -> bool:
        # Lidarr checks ?apikey= first, then X-Api-Key, then a Bearer token.
        bearer = headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return self.api_key in (query.get("apikey"), headers.get("X-Api-Key"), bearer)

    def system_status(self, query: dict, body: Any) -> tuple[int, Any]:
        return 200, {"appName": "Lidarr", "instanceName": "Lidarr", "version": self.version,
                     "urlBase": "", "isDocker": True}  # fmt: skip

    def add_webhook_connection(self, url: str) -> None:
        self.notifications.append({
            "id": len(self.notifications) + 1, "name": "Kima", "implementation": "Webhook",
            "configContract": "WebhookSettings", "fields": [{"name": "url", "value": url}],
        })  # fmt: skip
