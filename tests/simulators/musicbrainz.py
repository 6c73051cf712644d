"""A MusicBrainz web service stand-in: releases of release groups, with the time of every
request (to check the one-request-per-second limit)."""

from __future__ import annotations

import time
from typing import Any

from tests.simulators.base import Simulator


class MusicBrainzSimulator(Simulator):
    def __init__(self) -> None:
        super().__init__()
        self.release_groups: dict[str, list[str]] = {}
        self.request_times: list[float] = []
        self.user_agents: list[str] = []
        self.route("GET", "/ws/2/release", self.releases)

    def authorized(self, headers: Any, query: dict) -> bool:
        self.user_agents.append(headers.get("User-Agent", ""))
        return True  # MusicBrainz needs no key, only a User-Agent

    def add_release_group(self, mbid: str, tracks: list[str]) -> None:
        self.release_groups[mbid] = tracks

    def releases(self, query: dict, body: Any) -> tuple[int, Any]:
        self.request_times.append(time.monotonic())
        tracks = self.release_groups.get(query.get("release-group", ""))
        if tracks is None:
            return 200, {"releases": [], "release-count": 0}
        media = [{"position": 1, "tracks": [{"title": t, "position": n + 1}
                                            for n, t in enumerate(tracks)]}]  # fmt: skip
        return 200, {"releases": [{"id": "r-1", "status": "Official", "media": media}],
                     "release-count": 1}  # fmt: skip
