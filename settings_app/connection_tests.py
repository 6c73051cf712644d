""" "Test connection" for Lidarr and slskd, shared by the admin buttons and the API.

Results are plain data with a message an operator can act on; no exception or stack
trace ever reaches the page.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from kima.clients.base import IntegrationError
from kima.clients.lidarr import LidarrClient, field_value
from kima.clients.slskd import SlskdClient
from settings_app.services import EffectiveSettings

WEBHOOK_PATH = "/api/webhooks/lidarr"
logger = logging.getLogger(__name__)


@dataclass
class ConnectionResult:
    ok: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "message": self.message, "details": self.details}


def _answers_sanely(service: str) -> Callable:
    """A server that answers with something else than the API (a proxy's page, another
    program on that port) or a URL httpx refuses: a message, never a 500."""

    def decorate(check: Callable[[EffectiveSettings], ConnectionResult]) -> Callable:
        @functools.wraps(check)
        def guarded(settings: EffectiveSettings) -> ConnectionResult:
            try:
                return check(settings)
            except httpx.InvalidURL as error:
                return ConnectionResult(False, f"The {service} URL cannot be used: {error}")
            except (AttributeError, KeyError, TypeError, ValueError) as error:
                logger.warning("%s answered unexpectedly: %r", service, error)
                return ConnectionResult(False, f"Something answered, but not like {service}'s "
                                        "API does; check the URL and port.")  # fmt: skip

        return guarded

    return decorate


@_answers_sanely("Lidarr")
def check_lidarr(settings: EffectiveSettings) -> ConnectionResult:
    if not settings.lidarr_url:
        return ConnectionResult(False, "Set the Lidarr URL first.")
    if not settings.lidarr_api_key:
        return ConnectionResult(False, "Set the Lidarr API key first.")
    try:
        with LidarrClient(settings.lidarr_url, settings.lidarr_api_key) as lidarr:
            status = lidarr.system_status() or {}
            details = {
                "version": status.get("version"),
                "qualityProfiles": _names(lidarr.quality_profiles()),
                "metadataProfiles": _names(lidarr.metadata_profiles()),
                "rootFolders": [folder.get("path") for folder in lidarr.root_folders()],
                "webhookRegistered": _webhook_registered(lidarr.notifications(), settings),
            }
    except IntegrationError as error:
        return ConnectionResult(False, error.message)
    webhook = (
        "our webhook is registered"
        if details["webhookRegistered"]
        else ("our webhook is not registered yet")
    )
    message = f"Connected to Lidarr {details['version'] or '(unknown version)'}; {webhook}."
    return ConnectionResult(True, message, details)


@_answers_sanely("slskd")
def check_slskd(settings: EffectiveSettings) -> ConnectionResult:
    if not settings.slskd_url:
        return ConnectionResult(False, "Set the slskd URL first.")
    try:
        with SlskdClient(settings.slskd_url, settings.slskd_api_key) as slskd:
            state = slskd.application()
    except IntegrationError as error:
        return ConnectionResult(False, error.message)
    version = (state.get("version") or {}).get("full") or "(unknown version)"
    server = state.get("server") or {}
    details = {"version": version, "loggedIn": bool(server.get("isLoggedIn")),
               "username": (state.get("user") or {}).get("username")}  # fmt: skip
    if not details["loggedIn"]:
        return ConnectionResult(
            False, f"slskd {version} answers, but it is not logged in to Soulseek.", details
        )
    return ConnectionResult(
        True, f"Connected to slskd {version}, logged in as {details['username']}.", details
    )


def _names(items: list[dict]) -> list[dict]:
    return [{"id": item.get("id"), "name": item.get("name")} for item in items]


def _webhook_registered(notifications: list[dict], settings: EffectiveSettings) -> bool:
    for notification in notifications:
        url = str(field_value(notification, "url") or "")
        if notification.get("implementation") != "Webhook":
            continue
        if settings.public_url and url.rstrip("/") == settings.public_url + WEBHOOK_PATH:
            return True
        if not settings.public_url and url.rstrip("/").endswith(WEBHOOK_PATH):
            return True
    return False


@_answers_sanely("Lidarr")
def register_lidarr_webhook(settings: EffectiveSettings) -> ConnectionResult:
    """Create or update our webhook connection in Lidarr (idempotent). Lidarr tests the
    URL when it saves, so this service must be reachable at the public URL."""
    if not (settings.lidarr_url and settings.lidarr_api_key):
        return ConnectionResult(False, "Set the Lidarr URL and API key first.")
    if not settings.public_url:
        return ConnectionResult(False, "Set the public URL (how Lidarr reaches this service).")
    url = settings.public_url + WEBHOOK_PATH
    try:
        with LidarrClient(settings.lidarr_url, settings.lidarr_api_key) as lidarr:
            saved = lidarr.register_webhook(
                "Kima", url, settings.lidarr_webhook_username or "",
                settings.lidarr_webhook_password or "", settings.lidarr_webhook_secret or "",
            )  # fmt: skip
    except IntegrationError as error:
        return ConnectionResult(False, error.message)
    return ConnectionResult(True, f"Lidarr now sends its webhooks to {url}.",
                            {"notificationId": (saved or {}).get("id")})  # fmt: skip
