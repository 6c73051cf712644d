"""An slskd 0.26 stand-in (see ../shared/reference/slskd.md): searches that fill in over
time, peers that share folders, transfers that progress and write files into the
downloads directory (or are rejected, or never start), the batch and legacy enqueue
calls, and one search start at a time (429 otherwise)."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path, PureWindowsPath
from typing import Any
from urllib.parse import unquote

from tests.simulators.base import Simulator


class SlskdSimulator(Simulator):
    version = "0.26.1.0"

    def __init__(self, downloads_dir: Path | None = None, search_delay: float = 0.3,
                 tick: float = 0.05) -> None:  # fmt: skip
        super().__init__()
        self.logged_in = True
        self.username = "kima-bot"
        self.downloads_dir = downloads_dir
        self.search_delay = search_delay
        self.shares: list[dict] = []
        self.searches: dict[str, dict] = {}
        self.transfers: list[dict] = []
        self.search_starts = 0
        self.busy_answers = 0  # the next N search starts are answered 429, as a busy slskd does
        self.route("GET", "/api/v0/application", self.application)
        self.route("POST", "/api/v0/searches", self.search_start)
        self.route("GET", r"/api/v0/searches/([^/]+)", self.search_get)
        self.route("GET", r"/api/v0/searches/([^/]+)/responses", self.search_responses)
        self.route("POST", "/api/v0/transfers/downloads/batches", self.enqueue_batch)
        self.route("GET", r"/api/v0/transfers/downloads/([^/]+)", self.transfers_of)
        self.route("DELETE", r"/api/v0/transfers/downloads/([^/]+)/([^/]+)", self.cancel)
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._run, args=(tick,), daemon=True)
        self._ticker.start()

    def application(self, query: dict, body: Any) -> tuple[int, Any]:
        return 200, {
            "version": {"full": self.version, "current": self.version, "isUpdateAvailable": False},
            "server": {"address": "vps.slsknet.org:2271", "state": self._state(),
                       "isConnected": self.logged_in, "isLoggedIn": self.logged_in},
            "user": {"username": self.username},
        }  # fmt: skip

    def _state(self) -> str:
        return "Connected, LoggedIn" if self.logged_in else "Disconnected"

    # --- what peers share -----------------------------------------------------

    def share(self, username: str, folder: str, tracks: list[str], extension: str = "flac",
              behaviour: str = "ok", speed: int = 20_000, size: int = 2_000,
              free_slot: bool = True, queue_length: int = 0) -> None:  # fmt: skip
        """A peer folder. behaviour: ok, reject (refuses every file), stall (never sends),
        offline (slskd answers the enqueue with 404), lost (the transfers succeed but no
        file appears where the batch asked: a misconfigured downloads directory)."""
        files = [{"filename": f"{folder}\\{n + 1:02d} {title}.{extension}", "size": size,
                  "bitRate": 1000 if extension == "flac" else 320} for n, title in enumerate(tracks)]  # fmt: skip
        self.shares.append({"username": username, "folder": folder, "files": files,
                            "behaviour": behaviour, "speed": speed, "freeSlot": free_slot,
                            "queueLength": queue_length})  # fmt: skip

    # --- searches -------------------------------------------------------------

    def search_start(self, query: dict, body: Any) -> tuple[int, Any]:
        if not body or not str(body.get("searchText", "")).strip():
            return 400, "SearchText may not be empty"
        if self.busy_answers > 0:
            self.busy_answers -= 1
            return 429, "Another search is being started"
        search_id = body.get("id") or str(uuid.uuid4())
        if search_id in self.searches:
            return 400, f"A search with ID {search_id} already exists"
        self.search_starts += 1
        self.searches[search_id] = {"id": search_id, "searchText": body["searchText"],
                                    "started": time.monotonic()}  # fmt: skip
        return 200, self._search_view(search_id)

    def _search_view(self, search_id: str) -> dict:
        search = self.searches[search_id]
        complete = time.monotonic() - search["started"] >= self.search_delay
        return {"id": search_id, "searchText": search["searchText"], "isComplete": complete,
                "state": "Completed, TimedOut" if complete else "InProgress",
                "responseCount": len(self._arrived(search_id))}  # fmt: skip

    def search_get(self, query: dict, body: Any, search_id: str) -> tuple[int, Any]:
        return (200, self._search_view(search_id)) if search_id in self.searches else (404, None)

    def search_responses(self, query: dict, body: Any, search_id: str) -> tuple[int, Any]:
        if search_id not in self.searches:
            return 404, None
        responses: dict[str, dict] = {}
        for share in self._arrived(search_id):
            response = responses.setdefault(share["username"], {
                "username": share["username"], "hasFreeUploadSlot": share["freeSlot"],
                "queueLength": share["queueLength"], "uploadSpeed": share["speed"],
                "files": [], "lockedFiles": []})  # fmt: skip
            response["files"] += share["files"]
        return 200, list(responses.values())

    def _arrived(self, search_id: str) -> list[dict]:
        """Results fill in over the search's time, one peer after another."""
        search = self.searches[search_id]
        matches = self._matches(search["searchText"])
        share = min(1.0, (time.monotonic() - search["started"]) / max(self.search_delay, 1e-6))
        return matches[: int(len(matches) * share + 0.999)] if share > 0 else []

    def _matches(self, text: str) -> list[dict]:
        words = text.lower().split()
        return [s for s in self.shares if all(w in s["folder"].lower() for w in words)]

    # --- transfers ------------------------------------------------------------

    def enqueue_batch(self, query: dict, body: Any) -> tuple[int, Any]:
        username = body["username"]
        shared = {f["filename"]: s for s in self.shares if s["username"] == username
                  for f in s["files"]}  # fmt: skip
        created = []
        for file in body.get("files", []):
            share = shared.get(file["filename"])
            if share is None:
                return 400, f"{file['filename']} is not shared by {username}"
            if share["behaviour"] == "offline":
                return 404, f"User {username} appears to be offline"
            transfer = {"id": str(uuid.uuid4()), "username": username,
                        "filename": file["filename"], "size": file["size"],
                        "state": "Queued, Remotely", "bytesTransferred": 0,
                        "percentComplete": 0, "destination": body.get("options", {}).get(
                            "destination", ""), "behaviour": share["behaviour"],
                        "speed": share["speed"], "queuedAt": time.monotonic()}  # fmt: skip
            self.transfers.append(transfer)
            created.append(transfer)
        return 201, {"batch": {"id": body.get("id"), "username": username,
                               "transfers": created}, "failures": []}  # fmt: skip

    def transfers_of(self, query: dict, body: Any, username: str) -> tuple[int, Any]:
        username = unquote(username)
        mine = [self._public(t) for t in self.transfers if t["username"] == username]
        if not mine:
            return 404, None
        return 200, {"username": username,
                     "directories": [{"directory": "", "fileCount": len(mine), "files": mine}]}  # fmt: skip

    def cancel(self, query: dict, body: Any, username: str, transfer_id: str) -> tuple[int, Any]:
        for transfer in self.transfers:
            if transfer["id"] == transfer_id:
                transfer["state"] = "Completed, Cancelled"
                return 204, None
        return 404, None

    @staticmethod
    def _public(transfer: dict) -> dict:
        return {k: v for k, v in transfer.items() if k not in ("behaviour", "speed", "queuedAt")}

    def _run(self, tick: float) -> None:
        while not self._stop.wait(tick):
            with self.lock:
                for transfer in self.transfers:
                    self._advance(transfer, tick)

    def _advance(self, transfer: dict, tick: float) -> None:
        if transfer["state"].startswith("Completed") or transfer["behaviour"] == "stall":
            return
        if transfer["behaviour"] == "reject":
            if time.monotonic() - transfer["queuedAt"] > 0.2:
                transfer["state"] = "Completed, Rejected"
            return
        transfer["state"] = "InProgress"
        transfer["bytesTransferred"] = min(transfer["size"],
                                           transfer["bytesTransferred"] + int(transfer["speed"] * tick))  # fmt: skip
        transfer["percentComplete"] = transfer["bytesTransferred"] * 100 // transfer["size"]
        if transfer["bytesTransferred"] >= transfer["size"]:
            transfer["state"] = "Completed, Succeeded"
            if transfer["behaviour"] != "lost":
                self._write(transfer)

    def _write(self, transfer: dict) -> None:
        if self.downloads_dir is None:
            return
        folder = self.downloads_dir / transfer["destination"]
        folder.mkdir(parents=True, exist_ok=True)
        name = PureWindowsPath(transfer["filename"]).name
        (folder / name).write_bytes(b"\0" * transfer["size"])

    def stop(self) -> None:
        self._stop.set()
        super().stop()
