"""MusicBrainz: the track list of a release group, at most one request per second from
the whole installation (MusicBrainz's rate limit), with an identifying User-Agent."""

from __future__ import annotations

import time

import httpx
from django.conf import settings

from kima.clients.base import IntegrationError, JsonClient
from kima.locks import Lock

__all__ = ["IntegrationError", "MusicBrainzClient"]


class MusicBrainzClient(JsonClient):
    service = "MusicBrainz"

    def __init__(self, base_url: str | None = None) -> None:
        super().__init__(base_url or settings.MUSICBRAINZ_URL, None,
                         timeout=httpx.Timeout(15.0, connect=5.0))  # fmt: skip
        self.http.headers.pop("X-Api-Key", None)
        self.http.headers["User-Agent"] = (
            f"KimaHubIntegration/{settings.VERSION} ( https://github.com/Chevron7Locked/kima-hub )"
        )

    def request(self, *args, **kwargs):  # type: ignore[override]
        # One request at a time across every process, and a second between two: the lock
        # is held for the request plus whatever is left of that second.
        # ttl above the worst request (5 s connect + 15 s read + the pause): never two at once.
        lock = Lock("musicbrainz:rate", ttl=30, wait=60)
        if not lock.acquire():
            raise IntegrationError("musicbrainz", "timeout", "MusicBrainz is busy (other "
                                   "lookups are waiting); try again later")  # fmt: skip
        try:
            started = time.monotonic()
            try:
                return super().request(*args, **kwargs)
            finally:
                time.sleep(max(0.0, settings.MUSICBRAINZ_INTERVAL - (time.monotonic() - started)))
        finally:
            lock.release()

    def track_titles(self, release_group_mbid: str) -> list[str]:
        """The tracks of the release group's first official release."""
        body = self.request("GET", "/ws/2/release", "release", params={
            "release-group": release_group_mbid, "inc": "recordings", "fmt": "json",
            "status": "official", "limit": 1}) or {}  # fmt: skip
        releases = body.get("releases") or []
        if not releases:
            return []
        return [str(track.get("title") or "") for medium in releases[0].get("media") or []
                for track in medium.get("tracks") or []]  # fmt: skip
