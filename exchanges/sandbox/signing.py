"""Signature payloads and verification, exactly as Binance builds and checks them.

REST: payload = raw query string + raw body, byte for byte as sent (so percent-encoded), with
the ``signature`` pair removed; HMAC-SHA256 hex (case-insensitive) or base64 Ed25519 /
RSASSA-PKCS1-v1_5-SHA256 (case-sensitive; the base64 arrives percent-encoded).
WebSocket API: every param except ``signature`` (including ``apiKey``) sorted by name,
``key=value`` joined by ``&`` with raw UTF-8 values, no percent-encoding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

KEY_TYPES = ("HMAC", "ED25519", "RSA")


def strip_signature(raw: str) -> tuple[str, str | None]:
    """Remove the ``signature=...`` pair from a raw (still encoded) parameter string.

    Returns (payload part, encoded signature or None).
    """
    if "signature=" not in raw:
        return raw, None
    parts = raw.split("&")
    keep = []
    sig = None
    for part in parts:
        if part.startswith("signature="):
            sig = part[len("signature=") :]
        else:
            keep.append(part)
    return "&".join(keep), sig


def rest_payload(raw_query: str, raw_body: str) -> tuple[str, str | None]:
    """(payload, encoded signature) for a REST request. Query first, then body, no separator."""
    query, sig_q = strip_signature(raw_query)
    body, sig_b = strip_signature(raw_body)
    return query + body, sig_q if sig_q is not None else sig_b


def ws_payload(params: dict) -> str:
    """Sorted, unencoded ``key=value&...`` over all params except ``signature``."""
    items = []
    for key in sorted(params):
        if key == "signature":
            continue
        value = params[key]
        if isinstance(value, bool):
            value = "true" if value else "false"
        items.append(f"{key}={value}")
    return "&".join(items)


def hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


class Verifier:
    """Checks signatures for one key. HMAC state is precomputed once per key."""

    __slots__ = ("_hmac", "_public", "key_type")

    def __init__(self, key_type: str, secret: str | None = None, public_pem: str | None = None):
        self.key_type = key_type
        self._hmac = None
        self._public = None
        if key_type == "HMAC":
            if not secret:
                raise ValueError("HMAC keys need a secret")
            self._hmac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
        else:
            if not public_pem:
                raise ValueError(f"{key_type} keys need a public key")
            public = serialization.load_pem_public_key(public_pem.encode())
            if key_type == "ED25519" and not isinstance(public, ed25519.Ed25519PublicKey):
                raise ValueError("public_key is not an Ed25519 key")
            if key_type == "RSA":
                if not isinstance(public, rsa.RSAPublicKey):
                    raise ValueError("public_key is not an RSA key")
                if not 2048 <= public.key_size <= 4096:
                    raise ValueError("RSA keys must have 2048 to 4096 bits")
            self._public = public

    def verify(self, payload: bytes, signature: str) -> bool:
        """`signature` is already percent-decoded (hex for HMAC, base64 otherwise)."""
        if self._hmac is not None:
            h = self._hmac.copy()
            h.update(payload)
            return hmac.compare_digest(h.hexdigest(), signature.lower())
        try:
            raw = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            return False
        try:
            if self.key_type == "ED25519":
                self._public.verify(raw, payload)
            else:
                self._public.verify(raw, payload, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True


def generate_key_pair(key_type: str) -> tuple[str, str]:
    """(private PEM PKCS#8, public PEM) for demos and tests."""
    if key_type == "ED25519":
        private = ed25519.Ed25519PrivateKey.generate()
    elif key_type == "RSA":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        raise ValueError(key_type)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


def sign_with_private_key(private_pem: str, payload: bytes) -> str:
    """Base64 signature (not percent-encoded) with an Ed25519 or RSA private key."""
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    if isinstance(private, ed25519.Ed25519PrivateKey):
        raw = private.sign(payload)
    elif isinstance(private, rsa.RSAPrivateKey):
        raw = private.sign(payload, padding.PKCS1v15(), hashes.SHA256())
    else:
        raise ValueError("unsupported private key type")
    return base64.b64encode(raw).decode()
