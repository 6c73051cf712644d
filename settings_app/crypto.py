"""Encryption of the secrets kept in `SystemSettings`.

Written here: AES-256-GCM (authenticated), `gcm1:<nonce hex>:<ciphertext+tag hex>`, with
a key derived by HKDF-SHA256 from SETTINGS_ENCRYPTION_KEY, and the column name as
associated data so a value copied into another column does not decrypt.

Read as well, because adopted Kima databases hold them:
- Kima: AES-256-CBC, key = SHA-256 of the key string, `<iv hex>:<ciphertext hex>`;
- older Kima rows: the same with the first 32 characters of the key string used raw;
- plaintext (no `:`), which Kima passed through unchanged.

A value that none of the keys opens raises `UndecryptableSecret`; it is never returned
as if it were the secret (Kima returned the ciphertext itself).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

PREFIX = "gcm1:"
_KIMA_FORMAT = re.compile(r"^[0-9a-fA-F]{32}:[0-9a-fA-F]+$")


class UndecryptableSecret(Exception):
    """The stored value is encrypted, but not under any configured key."""


def current_key() -> str:
    return settings.SETTINGS_ENCRYPTION_KEY


def known_keys() -> list[str]:
    return [current_key(), *settings.SETTINGS_ENCRYPTION_KEY_PREVIOUS]


def _gcm_key(key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"kima-settings-gcm1")
    return hkdf.derive(key.encode())


def encrypt(plaintext: str, column: str, key: str | None = None) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_gcm_key(key or current_key())).encrypt(
        nonce, plaintext.encode(), column.encode()
    )
    return f"{PREFIX}{nonce.hex()}:{sealed.hex()}"


def decrypt(stored: str, column: str, keys: list[str] | None = None) -> str:
    """The plaintext of a stored value in any of the formats above."""
    if keys is None:
        try:
            return decrypt(stored, column, known_keys())
        except UndecryptableSecret:
            # Another process may have rotated the embedded key file since this one
            # started: its files name the keys in use now.
            fresh = [key for key in embedded_key_files() if key not in known_keys()]
            if not fresh:
                raise
            return decrypt(stored, column, fresh)
    if stored.startswith(PREFIX):
        return _decrypt_gcm(stored, column, keys)
    if _KIMA_FORMAT.match(stored):
        return _decrypt_kima(stored, keys)
    return stored  # legacy plaintext, as Kima stored it before encryption existed


EMBEDDED_KEY_FILES = (".settings_encryption_key", ".settings_encryption_key.new",
                      ".settings_encryption_key.previous")  # fmt: skip


def embedded_key_files() -> list[str]:
    """The keys in DATA_DIR's key files now (what `rotate_settings_key` writes)."""
    keys = []
    for name in EMBEDDED_KEY_FILES:
        try:
            keys.append((Path(settings.DATA_DIR) / name).read_text().strip())
        except OSError:
            continue
    return [key for key in keys if key]


def is_current(stored: str) -> bool:
    """True when `stored` is already in our format (rotation may still re-key it)."""
    return stored.startswith(PREFIX)


def _decrypt_gcm(stored: str, column: str, keys: list[str]) -> str:
    try:
        nonce_hex, sealed_hex = stored[len(PREFIX) :].split(":", 1)
        nonce, sealed = bytes.fromhex(nonce_hex), bytes.fromhex(sealed_hex)
    except ValueError as error:
        raise UndecryptableSecret("malformed encrypted value") from error
    for key in keys:
        try:
            return AESGCM(_gcm_key(key)).decrypt(nonce, sealed, column.encode()).decode()
        except (InvalidTag, ValueError):
            continue
    raise UndecryptableSecret("no configured key opens this value")


def _kima_keys(keys: list[str]) -> list[bytes]:
    derived = []
    for key in keys:
        derived.append(hashlib.sha256(key.encode()).digest())
        if len(key) >= 32:
            derived.append(key[:32].encode()[:32])  # Kima's legacy raw key
    return derived


def _decrypt_kima(stored: str, keys: list[str]) -> str:
    iv_hex, body_hex = stored.split(":", 1)
    try:
        iv, body = bytes.fromhex(iv_hex), bytes.fromhex(body_hex)
    except ValueError:
        raise UndecryptableSecret("the stored Kima-format value is damaged (not hex)") from None
    for key in _kima_keys(keys):
        try:
            decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
            padded = decryptor.update(body) + decryptor.finalize()
            unpadder = padding.PKCS7(128).unpadder()
            return (unpadder.update(padded) + unpadder.finalize()).decode()
        except (ValueError, UnicodeDecodeError):
            continue  # wrong key: bad padding or not text
    raise UndecryptableSecret("no configured key opens this Kima-format value")
