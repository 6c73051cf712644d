"""Runtime integration settings: the one accessor for effective values, and the one
place that changes them (called by the admin, the API and commands alike).

Precedence, per field: a value stored in the database wins; an unset one (NULL or
blank) falls back to the environment variable named in `FIELDS` (Kima's names); then
to the default. `effective()` returns the result with each value's source.

Live reload: every process keeps the effective settings for at most
`RELOAD_SECONDS`, then reads the single row again (one primary-key SELECT). A change
saved anywhere is therefore seen everywhere within a second, with no restart and no
dependency on Redis. The saving process drops its copy at once.

Secrets are encrypted at rest (`settings_app.crypto`) and write-only: nothing here
returns a stored secret except `effective()`, which the integrations need.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, transaction

from settings_app import crypto, validation
from settings_app.models import SINGLETON_ID, DownloadSource, FailureFallback, SystemSettings

logger = logging.getLogger(__name__)

RELOAD_SECONDS = 0.5
INT32_MAX = 2**31 - 1  # the columns are PostgreSQL integers
MASK = "********"  # what the API shows for a stored secret; sending it back keeps it


@dataclass(frozen=True)
class Field:
    name: str  # model attribute
    kind: str  # bool | int | choice | url | path | text | secret
    group: str
    env: str | None = None
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    help: str = ""

    @property
    def column(self) -> str:
        """Kima's column name, also the field's name in the API."""
        return SystemSettings._meta.get_field(self.name).db_column or self.name

    @property
    def label(self) -> str:
        words = {"url": "URL", "api": "API", "id": "ID", "lastfm": "Last.fm", "slskd": "slskd"}
        parts = [words.get(part, part) for part in self.name.split("_")]
        text = " ".join(parts)
        return text[0].upper() + text[1:]

    @property
    def nullable(self) -> bool:
        return SystemSettings._meta.get_field(self.name).null

    @property
    def secret(self) -> bool:
        return self.kind == "secret"


LIDARR, SLSKD, DOWNLOADS, LASTFM, GENERAL = (
    "Lidarr",
    "Soulseek (slskd)",
    "Downloads",
    "Last.fm",
    "General",
)

FIELDS: tuple[Field, ...] = (
    Field("lidarr_enabled", "bool", LIDARR, "LIDARR_ENABLED", True),
    Field("lidarr_url", "url", LIDARR, "LIDARR_URL", "http://localhost:8686"),
    Field("lidarr_api_key", "secret", LIDARR, "LIDARR_API_KEY"),
    Field("lidarr_webhook_secret", "secret", LIDARR, "LIDARR_WEBHOOK_SECRET",
          help="Sent by Lidarr in the X-Webhook-Secret header."),
    Field("lidarr_webhook_username", "text", LIDARR, "LIDARR_WEBHOOK_USERNAME",
          help="HTTP Basic user name of Lidarr's webhook connection."),
    Field("lidarr_webhook_password", "secret", LIDARR, "LIDARR_WEBHOOK_PASSWORD"),
    Field("lidarr_quality_profile_id", "int", LIDARR, "LIDARR_QUALITY_PROFILE_ID", minimum=1,
          maximum=INT32_MAX, help="Empty: the root folder's default profile."),
    Field("lidarr_metadata_profile_id", "int", LIDARR, "LIDARR_METADATA_PROFILE_ID", minimum=1,
          maximum=INT32_MAX, help="Empty: the root folder's default profile."),
    Field("soulseek_enabled", "bool", SLSKD, "SOULSEEK_ENABLED", None,
          help="Empty: enabled when the slskd URL and API key are set."),
    Field("slskd_url", "url", SLSKD, "SLSKD_URL"),
    Field("slskd_api_key", "secret", SLSKD, "SLSKD_API_KEY"),
    Field("soulseek_download_path", "path", SLSKD, "SOULSEEK_DOWNLOAD_PATH", "/downloads",
          help="slskd's download directory as this service sees it."),
    Field("soulseek_concurrent_downloads", "int", SLSKD, "SOULSEEK_CONCURRENT_DOWNLOADS", 4,
          minimum=1, maximum=10),
    Field("download_source", "choice", DOWNLOADS, "DOWNLOAD_SOURCE", DownloadSource.SOULSEEK,
          choices=tuple(DownloadSource.values)),
    Field("primary_failure_fallback", "choice", DOWNLOADS, "PRIMARY_FAILURE_FALLBACK",
          FailureFallback.NONE, choices=tuple(FailureFallback.values)),
    Field("download_retry_attempts", "int", DOWNLOADS, "DOWNLOAD_RETRY_ATTEMPTS", 3,
          minimum=0, maximum=10),
    Field("max_concurrent_downloads", "int", DOWNLOADS, "MAX_CONCURRENT_DOWNLOADS", 3,
          minimum=1, maximum=20),
    Field("music_path", "path", DOWNLOADS, "MUSIC_PATH", "/music"),
    Field("lastfm_enabled", "bool", LASTFM, "LASTFM_ENABLED", None,
          help="Empty: enabled when an API key is set."),
    Field("lastfm_api_key", "secret", LASTFM, "LASTFM_API_KEY"),
    Field("lastfm_api_secret", "secret", LASTFM, "LASTFM_API_SECRET"),
    Field("public_url", "url", GENERAL, "PUBLIC_URL",
          help="How Lidarr reaches this service, e.g. http://kima:8000."),
)  # fmt: skip
BY_NAME = {field.name: field for field in FIELDS}
BY_COLUMN = {field.column: field for field in FIELDS}

# Every encrypted column Kima has, used here or not: a key rotation must re-key them all.
SECRET_COLUMNS = (
    "lidarr_api_key", "lidarr_webhook_secret", "lidarr_webhook_password", "slskd_api_key",
    "openai_api_key", "fanart_api_key", "lastfm_api_key", "lastfm_api_secret",
    "lastfm_user_key", "audiobookshelf_api_key", "soulseek_password", "spotify_client_secret",
)  # fmt: skip


class SettingsValidationError(Exception):
    """Bad input; `errors` maps field names (model attributes) to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


class EffectiveSettings:
    """Effective values as attributes, plus `source(name)` and decryption `problems`."""

    def __init__(self, values: dict[str, Any], sources: dict[str, str], problems: dict) -> None:
        self._values = values
        self._sources = sources
        self.problems: dict[str, str] = problems

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def source(self, name: str) -> str:
        """ "database", "environment" or "default"."""
        return self._sources[name]

    @property
    def soulseek_active(self) -> bool:
        if self.soulseek_enabled is not None:
            return bool(self.soulseek_enabled and self.slskd_url)
        return bool(self.slskd_url and self.slskd_api_key)

    @property
    def lidarr_active(self) -> bool:
        return bool(self.lidarr_enabled and self.lidarr_url)

    @property
    def lastfm_active(self) -> bool:
        return bool(self.lastfm_api_key) and self.lastfm_enabled is not False

    @property
    def webhook_auth_configured(self) -> bool:
        basic = self.lidarr_webhook_username and self.lidarr_webhook_password
        return bool(self.lidarr_webhook_secret or basic)


_cached: tuple[float, EffectiveSettings] | None = None
_cache_lock = threading.Lock()
_warned: set[str] = set()


def effective() -> EffectiveSettings:
    """The effective settings, at most RELOAD_SECONDS old."""
    global _cached
    cached = _cached
    if cached and time.monotonic() - cached[0] < RELOAD_SECONDS:
        return cached[1]
    with _cache_lock:
        fresh = _compute(_stored_row())
        _cached = (time.monotonic(), fresh)
    return fresh


_unreadable_until = 0.0
UNREADABLE_RETRY_SECONDS = 2.0


def effective_or_stale() -> EffectiveSettings | None:
    """Like `effective()`, but when the database cannot be read: the last values this
    process saw (however old), or None if it never saw any. For paths that must keep
    working through a database outage (webhook intake): after a failed read the database
    is not asked again for UNREADABLE_RETRY_SECONDS, so requests do not each wait out a
    connection timeout."""
    global _unreadable_until
    cached = _cached
    if time.monotonic() < _unreadable_until:
        return cached[1] if cached else None
    try:
        return effective()
    except DatabaseError:
        _unreadable_until = time.monotonic() + UNREADABLE_RETRY_SECONDS
        cached = _cached
        return cached[1] if cached else None


def invalidate() -> None:
    global _cached
    _cached = None


def _stored_row() -> SystemSettings | None:
    return SystemSettings.objects.filter(pk=SINGLETON_ID).first()


def _compute(row: SystemSettings | None) -> EffectiveSettings:
    values, sources, problems = {}, {}, {}
    for field in FIELDS:
        value, source = _stored_value(field, row, problems)
        if source is None:
            value, source = _environment_value(field, problems)
        if source is None:
            value, source = field.default, "default"
        values[field.name], sources[field.name] = value, source
    return EffectiveSettings(values, sources, problems)


def _stored_value(field: Field, row: SystemSettings | None, problems: dict) -> tuple[Any, Any]:
    raw = getattr(row, field.name) if row is not None else None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, None
    if not field.secret:
        return raw, "database"
    try:
        return crypto.decrypt(raw, field.column), "database"
    except crypto.UndecryptableSecret as error:
        problems[field.name] = f"the stored value cannot be decrypted ({error})"
        _warn_once(field.name, problems[field.name])
        return None, None


def _environment_value(field: Field, problems: dict) -> tuple[Any, Any]:
    raw = os.environ.get(field.env or "", "").strip()
    if not raw:
        return None, None
    try:
        return clean_value(field, _parse_env(field, raw)), "environment"
    except ValueError as error:
        problems[field.name] = f"{field.env} is ignored: {error}"
        _warn_once(field.env, problems[field.name])
        return None, None


def _parse_env(field: Field, raw: str) -> Any:
    if field.kind == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError("must be true or false")
    if field.kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise ValueError("must be a whole number") from None
    return raw


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning("settings: %s: %s", key, message)


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------

_CLEANERS: dict[str, Callable[[Field, Any], Any]] = {}


def clean_value(field: Field, raw: Any) -> Any:
    """The value to store for `field`, or ValueError with an operator-facing message."""
    if raw is None:
        if not field.nullable:
            raise ValueError("may not be empty")
        return None
    return _CLEANERS[field.kind](field, raw)


def _cleaner(kind: str) -> Callable:
    def register(fn: Callable) -> Callable:
        _CLEANERS[kind] = fn
        return fn

    return register


@_cleaner("bool")
def _clean_bool(field: Field, raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise ValueError("must be true or false")
    return raw


@_cleaner("int")
def _clean_int(field: Field, raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValueError("must be a whole number")
    if field.minimum is not None and raw < field.minimum:
        raise ValueError(f"must be at least {field.minimum}")
    if field.maximum is not None and raw > field.maximum:
        raise ValueError(f"must be at most {field.maximum}")
    return raw


@_cleaner("choice")
def _clean_choice(field: Field, raw: Any) -> str:
    if raw not in field.choices:
        raise ValueError(f"must be one of: {', '.join(field.choices)}")
    return raw


def _text(raw: Any, limit: int = 2000) -> str:
    if not isinstance(raw, str):
        raise ValueError("must be text")
    if len(raw) > limit:
        raise ValueError(f"must be at most {limit} characters")
    if CONTROL_CHARACTERS.search(raw.strip()):
        raise ValueError("must not contain control characters (tabs, line breaks, NUL)")
    return raw.strip()


CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


@_cleaner("url")
def _clean_url(field: Field, raw: Any) -> str | None:
    text = _text(raw)
    return validation.integration_url(text) if text else None


@_cleaner("path")
def _clean_path(field: Field, raw: Any) -> str | None:
    text = _text(raw)
    return validation.absolute_path(text) if text else None


@_cleaner("text")
def _clean_text(field: Field, raw: Any) -> str | None:
    return _text(raw, 200) or None


@_cleaner("secret")
def _clean_secret(field: Field, raw: Any) -> str:
    value = _text(raw, 1000)
    if field.name.endswith("password"):  # HTTP Basic: Lidarr encodes it as ISO-8859-1
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError("must use only Latin-1 characters (Lidarr's Basic auth)") from None
    elif not value.isascii():  # keys and the webhook secret travel as HTTP header values
        raise ValueError("must contain only ASCII characters")
    return value


def validate(
    changes: dict[str, Any], clear: Iterable[str] = (), current: SystemSettings | None = None
) -> dict[str, Any]:
    """Clean a set of changes (model attribute names). Blank or masked secrets mean
    "keep"; `clear` lists the fields to unset explicitly. With `current` (the stored row)
    the combination of old and new values is checked too."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for name, raw in changes.items():
        field = BY_NAME.get(name)
        if field is None:
            errors[name] = ["is not a setting that can be changed here"]
            continue
        if field.secret and (
            raw is None or raw == MASK or (isinstance(raw, str) and not raw.strip())
        ):
            continue  # write-only: a blank or masked secret keeps the stored one
        try:
            cleaned[name] = clean_value(field, raw)
        except ValueError as error:
            errors[name] = [str(error)]
    for name in clear:
        field = BY_NAME.get(name)
        if field is None or not field.nullable:
            errors[name] = ["cannot be cleared"]
        elif name in cleaned and field.secret:
            errors[name] = ["was both given a new value and asked to be cleared"]
        else:
            cleaned[name] = None
    if not errors and current is not None:
        errors.update(_combination_errors(current, cleaned))
    if errors:
        raise SettingsValidationError(errors)
    return cleaned


def _combination_errors(current: SystemSettings, cleaned: dict[str, Any]) -> dict[str, list]:
    def after(name: str) -> Any:
        return cleaned[name] if name in cleaned else getattr(current, name)

    if after("primary_failure_fallback") == after("download_source"):
        return {"primary_failure_fallback": ["must differ from the download source (or be none)"]}
    return {}


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def update(changes: dict[str, Any], clear: Iterable[str] = ()) -> SystemSettings:
    """Validate and save changes in one transaction; nothing is written on any error."""
    with transaction.atomic():
        row = _locked_row()
        cleaned = validate(changes, clear, current=row)
        for name, value in cleaned.items():
            field = BY_NAME[name]
            if field.secret and value is not None:
                value = crypto.encrypt(value, field.column)
            setattr(row, name, value)
        row.save()
    invalidate()
    if cleaned:
        logger.info("settings changed: %s", ", ".join(sorted(cleaned)))
    return row


def _locked_row() -> SystemSettings:
    SystemSettings.objects.get_or_create(pk=SINGLETON_ID, defaults=_new_row())
    return SystemSettings.objects.select_for_update().get(pk=SINGLETON_ID)


def _new_row() -> dict[str, Any]:
    """A row created here leaves nullable integration settings unset (NULL), so the
    environment applies until the operator chooses a value."""
    return {field.name: None for field in FIELDS if field.nullable}


def load_row() -> SystemSettings:
    """The stored row (created if missing), for forms that show stored values."""
    row = _stored_row()
    if row is None:
        row, _ = SystemSettings.objects.get_or_create(pk=SINGLETON_ID, defaults=_new_row())
    return row


def secret_is_stored(row: SystemSettings, name: str) -> bool:
    value = getattr(row, name)
    return bool(value and value.strip())


def rotate_key(new_key: str) -> list[str]:
    """Re-encrypt every stored secret under `new_key`; returns the columns re-encrypted.
    All or nothing: a value no known key opens aborts the whole rotation."""
    with transaction.atomic():
        row = _locked_row()
        rotated = []
        for name in SECRET_COLUMNS:
            stored = getattr(row, name)
            if not stored or not stored.strip():
                continue
            column = SystemSettings._meta.get_field(name).db_column
            try:
                plaintext = crypto.decrypt(stored, column)
            except crypto.UndecryptableSecret as error:
                raise SettingsValidationError({name: [f"cannot be decrypted: {error}"]}) from error
            setattr(row, name, crypto.encrypt(plaintext, column, key=new_key))
            rotated.append(column)
        row.save(update_fields=[*SECRET_COLUMNS, "updated_at"])
    invalidate()
    return rotated
