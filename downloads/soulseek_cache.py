"""Soulseek state shared by every process, kept in the cache (Kima's two uses).

- Search sessions: what we asked slskd for under a search id (job, query, when), so any
  worker can pick up a search another one started. Lost on a Redis outage; the search
  is then simply started again.
- Failed-peer blocklist: a failure counter per Soulseek user with a sliding 24 h expiry
  (every failure restarts the window); a peer with 3 or more failures is skipped. With
  Redis down the blocklist reads as empty, so downloads go on (maybe trying a bad peer)
  rather than stop.
"""

from __future__ import annotations

from typing import Any

from kima.cache import NamedCache

SEARCH_SESSION_TTL = 3600
FAILED_PEER_WINDOW = 24 * 3600
FAILED_PEER_LIMIT = 3

search_sessions = NamedCache("slskd-search", ttl=SEARCH_SESSION_TTL)
failed_peers = NamedCache("slskd-failed-peer", ttl=FAILED_PEER_WINDOW)


def remember_search(search_id: str, session: dict[str, Any]) -> bool:
    return search_sessions.set(search_id, session)


def recall_search(search_id: str) -> dict[str, Any] | None:
    return search_sessions.get(search_id)


def forget_search(search_id: str) -> None:
    search_sessions.delete(search_id)


def record_peer_failure(username: str) -> int | None:
    """Count one failure for `username`; returns the count (None if it went unrecorded)."""
    return failed_peers.increment(username)


def is_peer_blocked(username: str) -> bool:
    return failed_peers.count(username) >= FAILED_PEER_LIMIT
