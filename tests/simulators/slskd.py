"""An slskd 0.26 stand-in (see ../shared/reference/slskd.md)."""

from __future__ import annotations

from typing import Any

from tests.simulators.base import Simulator


class SlskdSimulator(Simulator):
    version = "0.26.1.0"

    def __init__(self) -> None:
        super().__init__()
        self.logged_in = True
        self.username = "kima-bot"
        self.route("GET", "/api/v0/application", self.application)

    def application(self, query: dict, body: Any) -> tuple[int, Any]:
        return 200, {
            "version": {"full": self.version, "current": self.version, "isUpdateAvailable": False},
            "server": {"address": "vps.slsknet.org:2271", "state": self._state(),
                       "isConnected": self.logged_in, "isLoggedIn": self.logged_in},
            "user": {"username": self.username},
        }  # fmt: skip

    def _state(self) -> str:
        return "Connected, LoggedIn" if self.logged_in else "Disconnected"
