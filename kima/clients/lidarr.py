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

    # --- catalogue ---

    def lookup_album(self, mbid: str) -> dict | None:
        """An album by release-group MBID (id 0 when it is not in the library yet)."""
        found = self.request("GET", "/api/v1/album/lookup", "album_lookup",
                             params={"term": f"lidarr:{mbid}"}) or []  # fmt: skip
        return next((a for a in found if a.get("foreignAlbumId") == mbid), None)

    def lookup_artist(self, mbid: str) -> dict | None:
        """An artist by MBID from Lidarr's metadata server (id 0 when not in the library)."""
        found = self.request("GET", "/api/v1/artist/lookup", "artist_lookup",
                             params={"term": f"lidarr:{mbid}"}) or []  # fmt: skip
        return next((a for a in found if a.get("foreignArtistId") == mbid), None)

    def artists(self) -> list[dict]:
        return self.request("GET", "/api/v1/artist", "artist") or []

    def add_artist(self, artist: dict, root_folder: str, quality_profile: int,
                   metadata_profile: int) -> dict:  # fmt: skip
        """Add the artist without monitoring or searching anything yet: only the album we
        were asked for will be monitored."""
        body = {**artist, "rootFolderPath": root_folder, "qualityProfileId": quality_profile,
                "metadataProfileId": metadata_profile, "monitored": True,
                "monitorNewItems": "none",
                "addOptions": {"monitor": "none", "searchForMissingAlbums": False}}  # fmt: skip
        return self.request("POST", "/api/v1/artist", "artist_add", json=body)

    def albums_of(self, artist_id: int) -> list[dict]:
        return self.request("GET", "/api/v1/album", "album",
                            params={"artistId": artist_id}) or []  # fmt: skip

    def album(self, album_id: int) -> dict:
        return self.request("GET", f"/api/v1/album/{int(album_id)}", "album_get") or {}

    def monitor_albums(self, album_ids: list[int]) -> None:
        self.set_monitored(album_ids, True)

    def set_monitored(self, album_ids: list[int], monitored: bool) -> None:
        self.request("PUT", "/api/v1/album/monitor", "album_monitor",
                     json={"albumIds": album_ids, "monitored": monitored})  # fmt: skip

    def command(self, name: str, **arguments: object) -> dict:
        return self.request("POST", "/api/v1/command", "command", json={"name": name, **arguments})

    def command_status(self, command_id: int) -> dict:
        return self.request("GET", f"/api/v1/command/{int(command_id)}", "command_status") or {}

    def history_for(self, download_id: str) -> list[dict]:
        """History records of one download (grabbed, imported, failed...)."""
        body = self.request("GET", "/api/v1/history", "history", params={
            "downloadId": download_id, "pageSize": 50, "sortKey": "date",
            "sortDirection": "descending"}) or {}  # fmt: skip
        return body.get("records", []) if isinstance(body, dict) else body

    def scan_downloaded_album(self, path: str) -> dict:
        """Import a finished folder (a Soulseek download) into the library."""
        return self.command("DownloadedAlbumsScan", path=path, importMode="Move")

    # --- our webhook connection ---

    def register_webhook(self, name: str, url: str, username: str = "", password: str = "",
                         secret: str = "") -> dict:  # fmt: skip
        """Create or update our connection (idempotent: found by name or URL). Lidarr tests
        the URL on save, so this service must already answer there."""
        fields = [{"name": "url", "value": url}, {"name": "method", "value": 1},
                  {"name": "username", "value": username}, {"name": "password", "value": password},
                  {"name": "headers",
                   "value": [{"key": "X-Webhook-Secret", "value": secret}] if secret else []}]  # fmt: skip
        events = {"onGrab": True, "onReleaseImport": True, "onUpgrade": True,
                  "onDownloadFailure": True, "onImportFailure": True, "onAlbumDelete": True,
                  "onHealthIssue": True, "onHealthRestored": True, "includeHealthWarnings": False,
                  "onRename": False, "onTrackRetag": False, "onArtistAdd": False,
                  "onArtistDelete": False, "onApplicationUpdate": False}  # fmt: skip
        body = {"name": name, "implementation": "Webhook", "configContract": "WebhookSettings",
                "fields": fields, "tags": [], **events}  # fmt: skip
        for existing in self.notifications():
            same_url = str(field_value(existing, "url") or "").rstrip("/") == url.rstrip("/")
            if existing.get("name", "").lower() == name.lower() or same_url:
                updated = {**existing, **body, "id": existing["id"]}
                return self.request("PUT", f"/api/v1/notification/{existing['id']}",
                                    "notification_update", json=updated)  # fmt: skip
        return self.request("POST", "/api/v1/notification", "notification_add", json=body)

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
