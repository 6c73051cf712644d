"""A Lidarr v2 stand-in (see ../shared/reference/lidarr.md). It grows with the
endpoints the service uses; unknown paths answer 404 with Lidarr's `{message}` form."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from typing import Any

import httpx

from tests.simulators.base import Simulator
from tests.simulators.clock import Clock


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

    # --- the library and the download clock -------------------------------------

    def setup_library(self, webhook_url: str = "", username: str = "", password: str = "",
                      grab_delay: float = 0.3, download_delay: float = 0.5,
                      refresh_delay: float = 0.2, drop_rate: float = 0.0, seed: int = 7) -> None:  # fmt: skip
        """Make this simulator a working Lidarr: a catalogue to look albums up in, a
        library, and a clock that grabs, downloads and imports searched albums and posts
        the webhooks (with Basic auth) to `webhook_url`, dropping `drop_rate` of them."""
        self.catalogue: dict[str, dict] = {}
        self.artists: list[dict] = []
        self.library: list[dict] = []
        self.history: list[dict] = []
        self.commands: list[dict] = []
        self.failing_releases: dict[str, int] = {}  # album MBID -> releases that fail first
        self.unavailable: set[str] = set()  # album MBIDs no indexer has a release for
        self.release_groups: dict[str, list[str]] = {}  # album MBID -> albums released with it
        self.grabs: dict[str, int] = {}
        self.sent: list[dict] = []
        self.dropped: list[dict] = []
        self.delays = {"grab": grab_delay, "download": download_delay, "refresh": refresh_delay}
        self.drop_rate, self.rng = drop_rate, random.Random(seed)
        self.hook = WebhookConnection(webhook_url, username, password) if webhook_url else None
        self.clock = Clock()
        self._ids = iter(range(1, 10**9))
        self.route("GET", "/api/v1/album/lookup", self.album_lookup)
        self.route("GET", "/api/v1/artist/lookup", self.artist_lookup)
        self.route("GET", "/api/v1/artist", lambda q, b: (200, self.artists))
        self.route("POST", "/api/v1/artist", self.artist_add)
        self.route("GET", "/api/v1/album", self.albums_of)
        self.route("GET", r"/api/v1/album/(\d+)", self.album_get)
        self.route("PUT", "/api/v1/album/monitor", self.album_monitor)
        self.route("POST", "/api/v1/command", self.command)
        self.route("GET", r"/api/v1/command/(\d+)", self.command_get)
        self.route("GET", "/api/v1/history", self.history_page)
        self.route("POST", "/api/v1/notification", self.notification_add)
        self.route("PUT", r"/api/v1/notification/(\d+)", self.notification_update)

    def add_album(self, mbid: str, title: str, artist: str, artist_mbid: str,
                  tracks: int = 10) -> None:  # fmt: skip
        self.catalogue[mbid] = {"title": title, "artist": artist, "artistMbid": artist_mbid,
                                "tracks": tracks}  # fmt: skip

    def album_lookup(self, query: dict, body: Any) -> tuple[int, Any]:
        mbid = query.get("term", "").removeprefix("lidarr:")
        entry = self.catalogue.get(mbid)
        if entry is None:
            return 200, []
        in_library = next((a for a in self.library if a["foreignAlbumId"] == mbid), None)
        return 200, [{"id": in_library["id"] if in_library else 0, "title": entry["title"],
                      "foreignAlbumId": mbid,
                      "artist": {"artistName": entry["artist"],
                                 "foreignArtistId": entry["artistMbid"]},
                      "releases": [{"trackCount": entry["tracks"]}]}]  # fmt: skip

    def artist_lookup(self, query: dict, body: Any) -> tuple[int, Any]:
        mbid = query.get("term", "").removeprefix("lidarr:")
        entry = next((e for e in self.catalogue.values() if e["artistMbid"] == mbid), None)
        if entry is None:
            return 200, []
        known = next((a for a in self.artists if a["foreignArtistId"] == mbid), None)
        return 200, [{"id": known["id"] if known else 0, "artistName": entry["artist"],
                      "foreignArtistId": mbid, "mbId": mbid, "status": "continuing",
                      "folder": entry["artist"], "artistType": "Group"}]  # fmt: skip

    def artist_add(self, query: dict, body: Any) -> tuple[int, Any]:
        if any(a["foreignArtistId"] == body.get("foreignArtistId") for a in self.artists):
            return 400, [{"propertyName": "ForeignArtistId",
                          "errorMessage": "This artist has already been added."}]  # fmt: skip
        artist = {**body, "id": next(self._ids)}
        self.artists.append(artist)
        self.clock.after(self.delays["refresh"], lambda: self._refresh(artist))
        return 201, artist

    def _refresh(self, artist: dict) -> None:
        with self.lock:
            for mbid, entry in self.catalogue.items():
                if entry["artistMbid"] == artist["foreignArtistId"]:
                    self.library.append({"id": next(self._ids), "title": entry["title"],
                                         "foreignAlbumId": mbid, "artistId": artist["id"],
                                         "monitored": False,
                                         "statistics": {"trackFileCount": 0,
                                                        "trackCount": entry["tracks"]}})  # fmt: skip

    def albums_of(self, query: dict, body: Any) -> tuple[int, Any]:
        artist_id = int(query.get("artistId", 0))
        return 200, [a for a in self.library if a["artistId"] == artist_id]

    def album_get(self, query: dict, body: Any, album_id: str) -> tuple[int, Any]:
        album = next((a for a in self.library if a["id"] == int(album_id)), None)
        return (200, album) if album else (404, None)

    def album_monitor(self, query: dict, body: Any) -> tuple[int, Any]:
        for album in self.library:
            if album["id"] in body.get("albumIds", []):
                album["monitored"] = bool(body.get("monitored"))
        return 202, {}

    def command(self, query: dict, body: Any) -> tuple[int, Any]:
        record = {"id": next(self._ids), "name": body.get("name"), "body": body,
                  "status": "queued"}  # fmt: skip
        self.commands.append(record)
        if body.get("name") == "AlbumSearch":
            found = 0
            for album_id in body.get("albumIds", []):
                album = next((a for a in self.library if a["id"] == album_id), None)
                if album and album["foreignAlbumId"] in self.unavailable:
                    continue
                found += 1
                self.clock.after(self.delays["grab"], lambda a=album_id: self._grab(a))
            record.update(status="completed", message=f"{found} reports downloaded.")
        elif body.get("name") != "DownloadedAlbumsScan":
            return 500, {"message": f"Unknown command {body.get('name')}"}
        return 201, {**record, "status": "queued"}  # as Lidarr answers: the outcome comes later

    def command_get(self, query: dict, body: Any, command_id: str) -> tuple[int, Any]:
        record = next((c for c in self.commands if c["id"] == int(command_id)), None)
        if record is None:
            return 404, None
        return 200, {"id": record["id"], "name": record["name"],
                     "status": record.get("status", "completed"),
                     "message": record.get("message", "Completed")}  # fmt: skip

    def history_page(self, query: dict, body: Any) -> tuple[int, Any]:
        wanted = (query.get("downloadId") or "").upper()
        records = [h for h in self.history if not wanted or h["downloadId"].upper() == wanted]
        return 200, {"page": 1, "totalRecords": len(records), "records": records}

    def notification_add(self, query: dict, body: Any) -> tuple[int, Any]:
        if body.get("fields"):
            url = next(f["value"] for f in body["fields"] if f["name"] == "url")
            problem = self._test_webhook(body, url)
            if problem:
                return 400, [{"propertyName": "Url", "errorMessage": problem}]
        record = {**body, "id": next(self._ids)}
        self.notifications.append(record)
        return 201, record

    @staticmethod
    def _test_webhook(body: dict, url: str) -> str | None:
        """What Lidarr does on save: send the Test event with the connection's auth."""
        values = {f["name"]: f.get("value") for f in body.get("fields", [])}
        headers = {h["key"]: h["value"] for h in values.get("headers") or []}
        connection = WebhookConnection(url, values.get("username") or "",
                                       values.get("password") or "", headers)  # fmt: skip
        test = {"artist": {"id": 1, "name": "Test Name", "mbId": "aaaaa-aaa-aaaa-aaaaaa"},
                "albums": [{"id": 123, "title": "Test title"}], "eventType": "Test",
                "instanceName": "Lidarr", "applicationUrl": ""}  # fmt: skip
        try:
            response = connection.send(test)
        except httpx.HTTPError as error:
            return f"Unable to post to webhook: {error}"
        if response.status_code >= 400:
            return f"Unable to post to webhook: HTTP request failed: [{response.status_code}]"
        return None

    def notification_update(self, query: dict, body: Any, notification_id: str) -> tuple[int, Any]:
        for n, existing in enumerate(self.notifications):
            if existing["id"] == int(notification_id):
                self.notifications[n] = {**body, "id": existing["id"]}
                return 202, self.notifications[n]
        return 404, None

    # --- the clock's work --------------------------------------------------------

    def release_together(self, *mbids: str) -> None:
        """These albums come out as one release: one Grab lists them all, then one
        Download per album with the same downloadId (as Lidarr does)."""
        for mbid in mbids:
            self.release_groups[mbid] = list(mbids)

    def _grab(self, album_id: int) -> None:
        with self.lock:
            album = next((a for a in self.library if a["id"] == album_id), None)
            if album is None or not album["monitored"] or album["statistics"]["trackFileCount"]:
                return
            if any(r["albumId"] == album_id for r in self.queue):
                return  # already downloading (e.g. as part of another album's release)
            mbid = album["foreignAlbumId"]
            release = self.grabs.get(mbid, 0) + 1
            self.grabs[mbid] = release
            download_id = hashlib.sha1(f"{mbid}-{release}".encode()).hexdigest().upper()
            covered = [album] + [
                a for a in self.library
                if a["foreignAlbumId"] in self.release_groups.get(mbid, []) and a is not album
                and a["monitored"] and not a["statistics"]["trackFileCount"]
                and not any(r["albumId"] == a["id"] for r in self.queue)
            ]  # fmt: skip
            for each in covered:
                record = self.add_queue_record(download_id, each["id"], "downloading")
                record.update(size=1000, sizeleft=1000, title=f"{album['title']} release {release}")
                self.history.append({"downloadId": download_id, "albumId": each["id"],
                                     "eventType": "grabbed"})  # fmt: skip
            payload = self._album_payload(album, "Grab", download_id)
            payload["albums"] = [self._webhook_album(each) for each in covered]
        self._send(payload)
        self.clock.after(self.delays["download"], lambda: self._finish(download_id, mbid))

    def _finish(self, download_id: str, mbid: str) -> None:
        with self.lock:
            records = [r for r in self.queue if r["downloadId"] == download_id]
            if not records:
                return  # removed meanwhile (blocklisted by the orchestrator)
            for record in records:
                self.queue.remove(record)
            albums = [next(a for a in self.library if a["id"] == r["albumId"]) for r in records]
            payloads = []
            if self.grabs[mbid] <= self.failing_releases.get(mbid, 0):
                for album in albums:
                    self.history.append({"downloadId": download_id, "albumId": album["id"],
                                         "eventType": "downloadFailed",
                                         "data": {"message": "Download client failed"}})  # fmt: skip
                    # Lidarr's failed-download handling blocklists and searches again.
                    self.clock.after(self.delays["grab"], lambda a=album["id"]: self._grab(a))
                payloads.append({"quality": "FLAC", "qualityVersion": 1,
                                 "downloadClient": "qBittorrent", "downloadId": download_id,
                                 "releaseTitle": records[0]["title"],
                                 "eventType": "DownloadFailure", "instanceName": "Lidarr",
                                 "applicationUrl": ""})  # fmt: skip
            else:
                for album in albums:  # one Download per album of the release
                    album["statistics"]["trackFileCount"] = album["statistics"]["trackCount"]
                    self.history.append({"downloadId": download_id, "albumId": album["id"],
                                         "eventType": "downloadImported"})  # fmt: skip
                    payloads.append(self._album_payload(album, "Download", download_id))
        for payload in payloads:
            self._send(payload)

    def _webhook_album(self, album: dict) -> dict:
        return {"id": album["id"], "mbId": album["foreignAlbumId"], "title": album["title"]}

    def _album_payload(self, album: dict, event_type: str, download_id: str) -> dict:
        entry = self.catalogue[album["foreignAlbumId"]]
        artist = {"id": album["artistId"], "name": entry["artist"], "mbId": entry["artistMbid"]}
        webhook_album = self._webhook_album(album)
        payload = {"artist": artist, "downloadClient": "qBittorrent",
                   "downloadClientType": "qBittorrent", "downloadId": download_id,
                   "eventType": event_type, "instanceName": "Lidarr", "applicationUrl": ""}  # fmt: skip
        if event_type == "Grab":
            payload.update(albums=[webhook_album], release={"quality": "FLAC",
                                                             "releaseTitle": album["title"]})  # fmt: skip
        else:
            files = [{"id": album["id"] * 100 + n, "path": f"/music/{entry['artist']}/{n}.flac",
                      "quality": "FLAC", "size": 1000} for n in range(entry["tracks"])]  # fmt: skip
            payload.update(album=webhook_album, trackFiles=files, isUpgrade=False)
        return payload

    def _send(self, payload: dict) -> None:
        if self.hook is None:
            return
        if self.rng.random() < self.drop_rate:
            self.dropped.append(payload)  # as if Lidarr's send failed: it never retries
            return
        try:
            self.hook.send(payload)
            self.sent.append(payload)
        except httpx.HTTPError:
            self.dropped.append(payload)

    def stop(self) -> None:
        super().stop()
        if hasattr(self, "clock"):
            self.clock.stop()

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
        if hasattr(self, "clock") and query.get("skipRedownload") != "true":
            self.clock.after(self.delays["grab"], lambda: self._grab(record["albumId"]))
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
