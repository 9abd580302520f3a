"""API credentials and request signing (HMAC-SHA256, Ed25519, RSA PKCS#1 v1.5 + SHA-256).

Two payload rules, both as Binance requires in 2026:

* REST: the percent-encoded query string exactly as sent (query + body, no separator), with
  ``signature`` appended last (:func:`rest_query`).
* WebSocket API: every parameter except ``signature``, ``apiKey`` included, sorted by name,
  raw UTF-8 values, no percent-encoding (:func:`ws_api_payload`).

Credential objects never show their secret: ``repr``/``str`` print the key type and the last
four characters of the API key only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlencode

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa


class KeyType(StrEnum):
    HMAC = "HMAC"
    ED25519 = "ED25519"
    RSA = "RSA"


def mask_key(api_key: str) -> str:
    """``…abcd``: the only form of an API key that may be shown or logged."""
    return "…" + api_key[-4:] if api_key else ""


class Credentials:
    """Base class: an API key plus whatever signs requests for it."""

    key_type: KeyType
    __slots__ = ("_api_key", "_fingerprint")

    def __init__(self, api_key: str) -> None:
        api_key = api_key.strip()
        if not api_key:
            raise ValueError("API key is empty")
        self._api_key = api_key
        self._fingerprint = hashlib.sha256(api_key.encode()).hexdigest()[:16]

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def masked_api_key(self) -> str:
        return mask_key(self._api_key)

    @property
    def fingerprint(self) -> str:
        """Stable, non-reversible id of the key (used for per-account rate-limit keys)."""
        return self._fingerprint

    def sign(self, payload: bytes) -> str:
        """The signature of ``payload`` as Binance expects it (hex or base64, not URL-quoted)."""
        raise NotImplementedError

    def secrets(self) -> tuple[str, ...]:
        """Strings that must never appear in logs or messages (used by the redaction tests)."""
        return (self._api_key,)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} api_key={self.masked_api_key}>"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # pickling would copy the secret into places we don't control
        raise TypeError("credentials cannot be pickled")


class HmacCredentials(Credentials):
    """API key + secret key. Signature: HMAC-SHA256, lowercase hex."""

    key_type = KeyType.HMAC
    __slots__ = ("_secret",)

    def __init__(self, api_key: str, secret_key: str) -> None:
        super().__init__(api_key)
        secret_key = secret_key.strip()
        if not secret_key:
            raise ValueError("secret key is empty")
        self._secret = secret_key.encode()

    def sign(self, payload: bytes) -> str:
        return hmac.new(self._secret, payload, hashlib.sha256).hexdigest()

    def secrets(self) -> tuple[str, ...]:
        return (self._api_key, self._secret.decode())


class Ed25519Credentials(Credentials):
    """API key + Ed25519 private key (PEM, PKCS#8). Signature: base64."""

    key_type = KeyType.ED25519
    __slots__ = ("_pem", "_private_key")

    def __init__(self, api_key: str, private_key_pem: str | bytes, password: bytes | None = None):
        super().__init__(api_key)
        pem = private_key_pem.encode() if isinstance(private_key_pem, str) else private_key_pem
        try:
            key = serialization.load_pem_private_key(pem.strip(), password=password)
        except (ValueError, TypeError) as exc:
            raise ValueError("the private key is not a valid PEM (PKCS#8) key") from exc
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ValueError("the private key is not an Ed25519 key")
        self._pem = pem.decode()
        self._private_key = key

    def sign(self, payload: bytes) -> str:
        return base64.b64encode(self._private_key.sign(payload)).decode()

    def secrets(self) -> tuple[str, ...]:
        return (self._api_key, self._pem)


class RsaCredentials(Credentials):
    """API key + RSA private key (PEM, PKCS#8). Signature: RSASSA-PKCS1-v1_5 SHA-256, base64."""

    key_type = KeyType.RSA
    __slots__ = ("_pem", "_private_key")

    def __init__(self, api_key: str, private_key_pem: str | bytes, password: bytes | None = None):
        super().__init__(api_key)
        pem = private_key_pem.encode() if isinstance(private_key_pem, str) else private_key_pem
        try:
            key = serialization.load_pem_private_key(pem.strip(), password=password)
        except (ValueError, TypeError) as exc:
            raise ValueError("the private key is not a valid PEM (PKCS#8) key") from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the private key is not an RSA key")
        self._pem = pem.decode()
        self._private_key = key

    def sign(self, payload: bytes) -> str:
        sig = self._private_key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(sig).decode()

    def secrets(self) -> tuple[str, ...]:
        return (self._api_key, self._pem)


def credentials_from(
    *,
    key_type: str,
    api_key: str,
    secret_key: str | None = None,
    private_key_pem: str | None = None,
) -> Credentials:
    """Build the right credentials object from stored fields (what the key vault holds)."""
    kind = KeyType(key_type.upper())
    if kind is KeyType.HMAC:
        if not secret_key:
            raise ValueError("an HMAC key needs its secret key")
        return HmacCredentials(api_key, secret_key)
    if not private_key_pem:
        raise ValueError(f"an {kind.value} key needs its private key (PEM)")
    if kind is KeyType.ED25519:
        return Ed25519Credentials(api_key, private_key_pem)
    return RsaCredentials(api_key, private_key_pem)


def rest_query(params: Iterable[tuple[str, str]], credentials: Credentials | None) -> str:
    """The query string to send; when signing, ``&signature=`` is appended last.

    The signature covers exactly the percent-encoded bytes that are sent.
    """
    query = urlencode(list(params))
    if credentials is None:
        return query
    signature = credentials.sign(query.encode())
    if credentials.key_type is not KeyType.HMAC:
        signature = quote(signature, safe="")
    return f"{query}&signature={signature}" if query else f"signature={signature}"


def ws_api_payload(params: Mapping[str, Any]) -> str:
    """The WebSocket API signature payload: sorted ``name=value`` pairs, raw UTF-8."""
    return "&".join(f"{k}={_ws_value(params[k])}" for k in sorted(params) if k != "signature")


def _ws_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def ws_api_sign(params: Mapping[str, Any], credentials: Credentials) -> dict[str, Any]:
    """``params`` + ``apiKey`` + ``signature`` for a signed WebSocket API request."""
    signed = dict(params)
    signed["apiKey"] = credentials.api_key
    signed["signature"] = credentials.sign(ws_api_payload(signed).encode())
    return signed
