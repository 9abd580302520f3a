"""Encryption of exchange secrets at rest (MultiFernet).

Master keys come from settings.ENCRYPTION_KEYS (KLINEO_ENCRYPTION_KEYS), newest first: new
ciphertexts use the newest key, every listed key still decrypts, and `rotate` re-encrypts with
the newest key (`manage.py rotate_encryption_keys`). Plaintext secrets exist only in memory,
only to build a client; they are never logged and never part of an exception message.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(Exception):
    """A stored secret cannot be decrypted with any configured master key."""

    def __init__(self) -> None:
        super().__init__(
            "A stored API secret cannot be decrypted with the configured master keys "
            "(KLINEO_ENCRYPTION_KEYS). Was a key removed before rotation finished?"
        )


@lru_cache(maxsize=4)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("KLINEO_ENCRYPTION_KEYS is empty.")
    try:
        return MultiFernet([Fernet(key.strip().encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "KLINEO_ENCRYPTION_KEYS must hold url-safe base64 Fernet keys of 32 bytes."
        ) from exc


def _fernet() -> MultiFernet:
    return _multifernet(tuple(settings.ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise DecryptionError() from None


def rotate(ciphertext: str) -> str:
    """The same secret encrypted with the newest master key."""
    try:
        return _fernet().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise DecryptionError() from None


def encrypted_with_newest_key(ciphertext: str) -> bool:
    newest = Fernet(settings.ENCRYPTION_KEYS[0].strip().encode())
    try:
        newest.decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True
