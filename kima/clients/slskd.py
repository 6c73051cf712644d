"""slskd REST API v0 client (see ../shared/reference/slskd.md).

slskd allows one search start at a time (429 otherwise) and two concurrent enqueue
calls; both are retried with a short back-off. Error bodies are usually plain strings.
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import quote

from kima.clients.base import IntegrationError, JsonClient

__all__ = ["IntegrationError", "PeerUnavailable", "SlskdClient", "has_flag"]

SUCCEEDED = "Succeeded"
FINAL_FAILURES = ("Cancelled", "TimedOut", "Errored", "Rejected", "Aborted")


def has_flag(state: str | None, flag: str) -> bool:
    """slskd joins flag enums with ", " ("Completed, Succeeded")."""
    return flag in (state or "").split(", ")


class PeerUnavailable(IntegrationError):
    """slskd is fine, but the peer is offline or refused every file: try another folder."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__("slskd", "peer", message, status)


BATCHES_SINCE = (0, 26)  # the batch enqueue endpoint (with per-batch destinations)


def _version(text: Any) -> tuple[int, ...] | None:
    parts = str(text or "").split("+")[0].split("-")[0].split(".")
    try:
        return tuple(int(part) for part in parts[:3])
    except ValueError:
        return None


class SlskdClient(JsonClient):
    service = "slskd"
    _batches: bool | None = None

    def application(self) -> dict:
        """Version, server connection and login state."""
        return self.request("GET", "/api/v0/application", "application") or {}

    def _retrying_429(self, method: str, path: str, endpoint: str, attempts: int = 8,
                      **kwargs: Any) -> Any:  # fmt: skip
        for attempt in range(attempts):
            try:
                return self.request(method, path, endpoint, **kwargs)
            except IntegrationError as error:
                if error.status != 429 or attempt == attempts - 1:
                    raise
                time.sleep(min(2.0, 0.1 * 2**attempt))
        return None  # pragma: no cover

    def start_search(self, text: str, search_id: str | None = None,
                     timeout_ms: int = 15000) -> str:  # fmt: skip
        """Start a search under our own id (idempotent on retry); returns the id."""
        search_id = search_id or str(uuid.uuid4())
        body = {"id": search_id, "searchText": text, "searchTimeout": timeout_ms}
        try:
            self._retrying_429("POST", "/api/v0/searches", "search_start", json=body)
        except IntegrationError as error:
            if error.status == 400 and self.search(search_id):
                return search_id  # our earlier attempt did start it
            raise
        return search_id

    def search(self, search_id: str) -> dict:
        try:
            return self.request("GET", f"/api/v0/searches/{search_id}", "search") or {}
        except IntegrationError as error:
            if error.status == 404:
                return {}
            raise

    def responses(self, search_id: str) -> list[dict]:
        return self.request("GET", f"/api/v0/searches/{search_id}/responses",
                            "search_responses") or []  # fmt: skip

    def wait_for_search(self, search_id: str, timeout: float, poll: float = 0.5) -> list[dict]:
        """Poll until slskd says the search completed (or `timeout`), then the responses."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.search(search_id).get("isComplete"):
                break
            time.sleep(poll)
        return self.responses(search_id)

    def supports_batches(self) -> bool:
        """slskd 0.26+ (read once per client from its version; unknown: assume yes)."""
        if self._batches is None:
            version = _version((self.application().get("version") or {}).get("current"))
            self._batches = version is None or version >= BATCHES_SINCE
        return self._batches

    def enqueue(self, username: str, files: list[dict], destination: str) -> set[str] | None:
        """Queue files from one peer into `destination` (relative to slskd's downloads
        directory): the batch endpoint on 0.26+, else the legacy call (which has no
        destination). Returns the ids of the queued transfers when slskd says them.
        PeerUnavailable when the peer is offline or every file was refused."""
        payload = [{"filename": f["filename"], "size": f["size"]} for f in files]
        if not self.supports_batches():
            return self._enqueue_legacy(username, payload)
        try:
            body = self._retrying_429("POST", "/api/v0/transfers/downloads/batches",
                                      "enqueue_batch", json={
                                          "id": str(uuid.uuid4()), "username": username,
                                          "files": payload,
                                          "options": {"destination": destination}})  # fmt: skip
        except IntegrationError as error:
            if error.status == 404:
                raise PeerUnavailable(f"{username} is offline", 404) from error
            raise
        queued = ((body or {}).get("batch") or {}).get("transfers") or []
        if not queued and (body or {}).get("failures"):
            reasons = "; ".join(str(f.get("message")) for f in body["failures"][:3])
            raise PeerUnavailable(f"{username} refused every file: {reasons}"[:300])
        return {str(t["id"]) for t in queued if t.get("id")} or None

    def _enqueue_legacy(self, username: str, payload: list[dict]) -> None:
        try:
            self._retrying_429("POST", f"/api/v0/transfers/downloads/{quote(username, safe='')}",
                               "enqueue", json=payload)  # fmt: skip
        except IntegrationError as error:
            if error.status == 500:  # slskd's answer for an offline or refusing peer
                raise PeerUnavailable(f"{username}: {error.message}"[:300], 500) from error
            raise

    def transfers(self, username: str) -> list[dict]:
        """Every download transfer from `username`, flattened."""
        try:
            body = self.request("GET", f"/api/v0/transfers/downloads/{quote(username, safe='')}",
                                "transfers") or {}  # fmt: skip
        except IntegrationError as error:
            if error.status == 404:
                return []
            raise
        groups = body if isinstance(body, list) else [body]
        return [t for g in groups for d in g.get("directories", []) for t in d.get("files", [])]

    def cancel(self, username: str, transfer_id: str) -> None:
        user = quote(username, safe="")
        try:
            self.request("DELETE", f"/api/v0/transfers/downloads/{user}/{transfer_id}",
                         "transfer_cancel", params={"remove": "true"})  # fmt: skip
        except IntegrationError as error:
            if error.status != 404:
                raise
