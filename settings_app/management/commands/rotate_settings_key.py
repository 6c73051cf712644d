"""Re-encrypt every stored secret under a new key (or under the current key, which
upgrades values Kima wrote with AES-CBC to authenticated encryption).

    python manage.py rotate_settings_key --generate
    python manage.py rotate_settings_key --new-key-file /run/secrets/new_key
    python manage.py rotate_settings_key            # re-encrypt under the current key

All secrets change in one transaction; if any stored value cannot be decrypted with
the known keys, nothing is written.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from settings_app import services


class Command(BaseCommand):
    help = "Re-encrypt the secrets in SystemSettings under a new SETTINGS_ENCRYPTION_KEY."

    def add_arguments(self, parser: Any) -> None:
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--new-key", help="the new key (visible in `ps`; prefer a file)")
        source.add_argument("--new-key-file", type=Path, help="a file holding the new key")
        source.add_argument("--generate", action="store_true", help="generate a random key")

    def handle(self, *args: Any, **options: Any) -> None:
        new_key = self._new_key(options)
        embedded = self._key_is_embedded() and new_key != settings.SETTINGS_ENCRYPTION_KEY
        if embedded:
            # Written before the database changes, so a crash in between loses no key:
            # settings read `.new` as a previous key.
            _write_private(self._key_path(".new"), new_key)
        try:
            rotated = services.rotate_key(new_key)
        except services.SettingsValidationError as error:
            raise CommandError(f"nothing was changed: {error}") from error
        self.stdout.write(f"re-encrypted {len(rotated)} secrets: {', '.join(rotated) or '-'}")
        if new_key == settings.SETTINGS_ENCRYPTION_KEY:
            return
        if embedded:
            _write_private(self._key_path(".previous"), settings.SETTINGS_ENCRYPTION_KEY)
            os.replace(self._key_path(".new"), self._key_path(""))
            self.stdout.write("the new key is in the data directory; restart the service")
            return
        self.stdout.write(
            "now set SETTINGS_ENCRYPTION_KEY to the new key and SETTINGS_ENCRYPTION_KEY_PREVIOUS "
            "to the old one, and restart every process. Processes still running on the old "
            "key cannot read the secrets until they restart; to avoid that window, first add "
            "the new key to SETTINGS_ENCRYPTION_KEY_PREVIOUS everywhere and restart, then "
            "rotate. Once all run on the new key, run this command without arguments (it "
            "re-encrypts anything written with the old key meanwhile) and drop the old key."
        )
        if options["generate"]:
            self.stdout.write(f"new key: {new_key}")

    def _new_key(self, options: dict[str, Any]) -> str:
        if options["generate"]:
            return secrets.token_urlsafe(48)
        if options["new_key_file"]:
            key = options["new_key_file"].read_text().strip()
        else:
            key = (options["new_key"] or settings.SETTINGS_ENCRYPTION_KEY).strip()
        if len(key) < 16:
            raise CommandError("the new key must be at least 16 characters")
        return key

    def _key_is_embedded(self) -> bool:
        names = (
            "SETTINGS_ENCRYPTION_KEY",
            "SETTINGS_ENCRYPTION_KEY_FILE",
            "ENCRYPTION_KEY",
            "ENCRYPTION_KEY_FILE",
        )  # every name kima.env.env_str reads the key from
        return not any(os.environ.get(name) for name in names)

    def _key_path(self, suffix: str) -> Path:
        return Path(settings.DATA_DIR) / f".settings_encryption_key{suffix}"


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
