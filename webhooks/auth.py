"""Authentication of Lidarr's webhook requests, as configured in the settings:
HTTP Basic (the Username/Password of Lidarr's connection) and/or the shared secret in
`X-Webhook-Secret` (Kima's header). When both are configured either one is accepted
(Lidarr before 2.9.4 cannot send custom headers). Comparisons are constant-time."""

from __future__ import annotations

import base64
import hmac
from typing import Any

from settings_app import services as settings_service
from webhooks.spool import digest


def basic_header(username: str, password: str) -> str:
    """The Authorization header Lidarr sends (ISO-8859-1, then base64)."""
    raw = f"{username}:{password}".encode("latin-1", errors="replace")
    return "Basic " + base64.b64encode(raw).decode()


def _expected_headers(current: Any) -> tuple[str | None, str | None]:
    secret = current.lidarr_webhook_secret or None
    basic = None
    if current.lidarr_webhook_username and current.lidarr_webhook_password:
        basic = basic_header(current.lidarr_webhook_username, current.lidarr_webhook_password)
    return secret, basic


def _equal(offered: str | None, expected: str | None) -> bool:
    if not offered or not expected:
        return False
    return hmac.compare_digest(offered.encode("utf-8"), expected.encode("utf-8"))


def unreadable(current: Any) -> bool:
    """Credentials are stored but cannot be decrypted (wrong or lost key). Accepting
    every request then would open the endpoint to anyone, so intake refuses instead."""
    return bool({"lidarr_webhook_secret", "lidarr_webhook_password"} & set(current.problems))


def is_authorized(headers: Any, current: Any) -> bool:
    secret, basic = _expected_headers(current)
    if not secret and not basic:
        return True  # nothing configured: accepted, with a warning in the admin and /health
    return _equal(headers.get("X-Webhook-Secret"), secret) or _equal(
        headers.get("Authorization"), basic
    )


def offered_digests(headers: Any) -> dict[str, str | None]:
    """What the request offered, kept only as digests (for a spooled event)."""
    return {"secret": digest(headers.get("X-Webhook-Secret")),
            "basic": digest(headers.get("Authorization"))}  # fmt: skip


def expected_digests() -> set[str]:
    secret, basic = _expected_headers(settings_service.effective())
    return {d for d in (digest(secret), digest(basic)) if d}
