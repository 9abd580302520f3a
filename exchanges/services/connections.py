"""Exchange connections: key validation, create, update, delete, demo keys.

Secrets live in memory only between the user's input and `crypto.encrypt`, and between
`crypto.decrypt` and the client that signs with them. They never reach a log line, an audit
entry, an exception message or a response: a key is shown as its last four characters only.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from dataclasses import dataclass, field

import requests
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record, notify_security_event
from exchanges import crypto, events
from exchanges.binance import Credentials, credentials_from
from exchanges.clients import connection_client as connection_client  # one place, shared
from exchanges.clients import sandbox_http_url
from exchanges.models import Environment, ExchangeConnection, KeyType
from klineo.exceptions import ApplicationError

logger = logging.getLogger(__name__)

API_KEY_LENGTH = 64
LABEL_MAX = 60
_ALNUM = re.compile(r"^[A-Za-z0-9]+$")
_PEM_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)(?:-----END ([A-Z0-9 ]+)-----|$)", re.DOTALL
)
RSA_MIN_BITS = 2048
RSA_MAX_BITS = 4096


# --- key validation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyInput:
    """Validated, trimmed key material. Its repr never shows the secret."""

    key_type: str
    api_key: str
    secret: str = field(repr=False)

    @property
    def last4(self) -> str:
        return self.api_key[-4:]

    def credentials(self) -> Credentials:
        if self.key_type == KeyType.HMAC:
            return credentials_from(key_type="HMAC", api_key=self.api_key, secret_key=self.secret)
        return credentials_from(
            key_type=self.key_type, api_key=self.api_key, private_key_pem=self.secret
        )

    def swapped(self) -> KeyInput:
        """The HMAC pair with key and secret exchanged (to detect a swapped paste)."""
        return KeyInput(key_type=self.key_type, api_key=self.secret, secret=self.api_key)


def _looks_like_key(value: str) -> bool:
    return len(value) == API_KEY_LENGTH and bool(_ALNUM.match(value))


def _has_pem(value: str) -> bool:
    return "-----BEGIN" in value or "PRIVATE KEY-----" in value or "PUBLIC KEY-----" in value


def _inner_whitespace(value: str) -> int | None:
    match = re.search(r"\s", value)
    return match.start() + 1 if match else None


def _code_problem(value: str, *, name: str) -> str | None:
    """Why `value` is not a 64-character Binance code (API key or HMAC secret), or None."""
    position = _inner_whitespace(value)
    if position is not None:
        return (
            f"The {name} has a space or line break inside it (at character {position}). "
            "Copy it again in one piece: it is one word of letters and digits."
        )
    if not _ALNUM.match(value):
        bad = next(i for i, ch in enumerate(value, 1) if not ch.isascii() or not ch.isalnum())
        return (
            f"The {name} may only contain letters and digits; character {bad} is something else "
            "(a quote, dot or invisible character copied with it?)."
        )
    if len(value) != API_KEY_LENGTH:
        return (
            f"A Binance {name} has {API_KEY_LENGTH} characters; this one has {len(value)}. "
            "It was probably cut off or copied with extra characters."
        )
    return None


def _api_key_problem(api_key: str, secret: str, key_type: str) -> str | None:
    if not api_key:
        return "Enter the API key (64 letters and digits, from Binance API Management)."
    if _has_pem(api_key):
        if "PUBLIC KEY" in api_key:
            return (
                "This is a public key (PEM), not an API key. The API key is the 64 letters and "
                "digits Binance shows after you register the public key."
            )
        if _looks_like_key(secret):
            return (
                "The API key and the private key are swapped: this field holds the private key "
                "(PEM) and the private key field holds what looks like the API key. Put the 64 "
                "letters and digits here and the PEM below."
            )
        return (
            "This is a private key (PEM), not an API key. Paste the private key into the "
            "private key field; the API key is the 64 letters and digits Binance shows in API "
            "Management."
        )
    return _code_problem(api_key, name="API key")


def _hmac_secret_problem(secret: str, api_key: str) -> str | None:
    if not secret:
        return "Enter the secret key that Binance showed when you created the API key."
    if _has_pem(secret):
        return (
            "This is a PEM key, not an HMAC secret key. If your Binance key is an Ed25519 or RSA "
            "key, choose that key type; an HMAC key has a 64-character secret key."
        )
    problem = _code_problem(secret, name="secret key")
    if problem:
        return problem
    if secret == api_key:
        return (
            "The secret key is the same as the API key. Binance shows two different codes: the "
            "API key and the secret key; paste the secret key here."
        )
    return None


def normalize_pem(text: str) -> tuple[str | None, str | None]:
    """(normalised PEM, None) or (None, problem): rebuilds a PEM pasted with collapsed or extra
    whitespace (line breaks turned into spaces, Windows line ends, indentation)."""
    match = _PEM_BLOCK.search(text)
    if not match:
        return None, (
            "Paste the whole private key file, including the -----BEGIN PRIVATE KEY----- and "
            "-----END PRIVATE KEY----- lines."
        )
    label, body, end_label = match.group(1).strip(), match.group(2), match.group(3)
    if "PUBLIC KEY" in label:
        return None, (
            "This is the public key. Binance keeps the public key; KLINEO needs the matching "
            "private key (the file you generated the pair into, e.g. with openssl genpkey)."
        )
    if label == "ENCRYPTED PRIVATE KEY":
        return None, (
            "This private key is protected by a passphrase. Remove the passphrase first: "
            "openssl pkey -in key.pem -out private-plain.pem (then paste that file)."
        )
    if label == "RSA PRIVATE KEY":
        return None, (
            "This RSA key is in the old PKCS#1 format; Binance and KLINEO need PKCS#8. Convert "
            "it: openssl pkcs8 -topk8 -nocrypt -in key.pem -out key-pkcs8.pem"
        )
    if label == "OPENSSH PRIVATE KEY":
        return None, (
            "This is an OpenSSH-format key; KLINEO needs a PKCS#8 PEM. Convert it: "
            "ssh-keygen -p -m PKCS8 -f <key file> (or generate one with openssl genpkey)."
        )
    if label != "PRIVATE KEY":
        return None, (
            f"This is a '{label}' block; paste a PKCS#8 private key (-----BEGIN PRIVATE KEY-----)."
        )
    if end_label is None or end_label.strip() != label:
        return None, (
            "The private key is incomplete: the -----END PRIVATE KEY----- line is missing. "
            "Paste the whole file."
        )
    compact = re.sub(r"\s", "", body)
    try:
        base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None, (
            "The private key is damaged: between the BEGIN and END lines it must only hold "
            "base64 text. Paste the file again, unchanged."
        )
    lines = [compact[i : i + 64] for i in range(0, len(compact), 64)]
    body = "\n".join(lines)
    return f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n", None


def _private_key_problem(secret: str, key_type: str) -> tuple[str | None, str | None]:
    """(normalised PEM, None) or (None, problem) for an Ed25519 / RSA private key."""
    kind = "Ed25519" if key_type == KeyType.ED25519 else "RSA"
    if not secret:
        return None, f"Paste the {kind} private key (PEM) that belongs to this API key."
    if not _has_pem(secret) and _ALNUM.match(secret):
        return None, (
            "This looks like an API key or an HMAC secret key, not a private key. For "
            f"{kind} keys paste the content of the private key file (it starts with "
            "-----BEGIN PRIVATE KEY-----); for an HMAC key choose key type HMAC."
        )
    pem, problem = normalize_pem(secret)
    if problem:
        return None, problem
    assert pem is not None
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except TypeError:
        return None, "This private key is protected by a passphrase; remove it first."
    except (ValueError, UnsupportedAlgorithm):
        return None, (
            "The private key could not be read: it is damaged or incomplete. Paste the whole "
            "file again."
        )
    if isinstance(key, ed25519.Ed25519PrivateKey):
        if key_type != KeyType.ED25519:
            return None, "This is an Ed25519 private key: choose key type Ed25519."
        return pem, None
    if isinstance(key, rsa.RSAPrivateKey):
        if key_type != KeyType.RSA:
            return None, "This is an RSA private key: choose key type RSA."
        if key.key_size < RSA_MIN_BITS:
            return None, (
                f"This RSA key has {key.key_size} bits; Binance requires at least "
                f"{RSA_MIN_BITS}. Generate a new one: openssl genpkey -algorithm RSA "
                "-pkeyopt rsa_keygen_bits:2048 -out private.pem"
            )
        if key.key_size > RSA_MAX_BITS:
            return None, f"This RSA key has {key.key_size} bits; Binance accepts at most 4096."
        return pem, None
    return None, (
        f"KLINEO supports Ed25519 and RSA private keys; this is a {type(key).__name__} key."
    )


def _key_type_problem(key_type: str) -> tuple[str | None, str | None]:
    value = (key_type or "").strip().upper()
    if value in KeyType.values:
        return value, None
    return None, "Choose the key type: HMAC, Ed25519 or RSA."


def _collect_key_errors(
    *, key_type: str, api_key: str, secret: str
) -> tuple[KeyInput | None, dict[str, list[str]]]:
    fields: dict[str, list[str]] = {}
    kind, problem = _key_type_problem(key_type)
    if problem:
        return None, {"key_type": [problem]}
    assert kind is not None
    api_key = (api_key or "").strip()
    secret = (secret or "").strip()
    problem = _api_key_problem(api_key, secret, kind)
    if problem:
        fields["api_key"] = [problem]
    if kind == KeyType.HMAC:
        problem = _hmac_secret_problem(secret, api_key)
        normalized = secret
    else:
        normalized, problem = _private_key_problem(secret, kind)
    if problem:
        fields["secret"] = [problem]
    if fields:
        return None, fields
    assert normalized is not None
    return KeyInput(key_type=kind, api_key=api_key, secret=normalized), {}


def raise_invalid(fields: dict[str, list[str]]) -> None:
    raise ApplicationError(next(iter(fields.values()))[0], code="invalid", fields=fields)


def keys_validate(*, key_type: str, api_key: str, secret: str) -> KeyInput:
    """Trim and check key material; raise ApplicationError (code "invalid") naming the fields.

    Detects: spaces or line breaks inside a key, wrong length or alphabet, a PEM in the API key
    field, key and private key swapped, a public key instead of a private one, PKCS#1 /
    OpenSSH / encrypted keys (with the conversion command), a key type that does not match the
    PEM, RSA keys under 2048 bits. A PEM pasted with collapsed line breaks is rebuilt.
    """
    keys, fields = _collect_key_errors(key_type=key_type, api_key=api_key, secret=secret)
    if fields:
        raise_invalid(fields)
    assert keys is not None
    return keys


def clean_environment(environment: str | None) -> tuple[str | None, str | None]:
    value = (environment or Environment.SANDBOX).strip().lower()
    if value in Environment.values:
        return value, None
    return None, "Choose an environment: sandbox, testnet, demo or mainnet."


def _clean_label(label: str | None) -> tuple[str, str | None]:
    value = " ".join((label or "").split())
    if not value:
        return value, "Give the connection a name, e.g. 'Main account' or 'Testnet'."
    if len(value) > LABEL_MAX:
        return value, f"Keep the name under {LABEL_MAX} characters."
    return value, None


def _label_taken(user: User, label: str, exclude_pk: int | None = None) -> bool:
    qs = ExchangeConnection.objects.filter(owner=user, label=label, deleted_at__isnull=True)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


def _label_taken_message(label: str) -> str:
    return f"You already have a connection called '{label}'. Choose another name."


# --- helpers shared by the connection services -----------------------------------------------


def connection_public_data(connection: ExchangeConnection) -> dict:
    """What may be pushed to a browser about a connection (nothing secret)."""
    return {
        "id": connection.pk,
        "label": connection.label,
        "environment": connection.environment,
        "key_type": connection.key_type,
        "key": connection.masked_key,
        "futures_enabled": connection.futures_enabled,
        "test_status": connection.test_status,
    }


def balances_cache_key(connection: ExchangeConnection) -> str:
    # created_at keeps two test databases that reuse ids from sharing a cache entry.
    return f"balances:{connection.pk}:{connection.created_at.timestamp():.0f}"


def connection_keys(connection: ExchangeConnection) -> KeyInput:
    """The connection's decrypted keys (memory only: never log, render or store them)."""
    if connection.deleted_at is not None:
        raise ApplicationError(
            "This connection was deleted.", code="connection_deleted", status_code=404
        )
    try:
        return _stored_keys(connection)
    except crypto.DecryptionError as exc:
        logger.error("connection %s: stored keys cannot be decrypted", connection.pk)
        raise ApplicationError(
            "The stored keys of this connection cannot be decrypted with the server's current "
            "encryption keys. Ask the administrator, or replace the keys.",
            code="keys_unreadable",
            status_code=409,
        ) from exc


def _stored_keys(connection: ExchangeConnection) -> KeyInput:
    return KeyInput(
        key_type=connection.key_type,
        api_key=crypto.decrypt(connection.api_key_encrypted),
        secret=crypto.decrypt(connection.secret_encrypted),
    )


def _audit_details(connection: ExchangeConnection) -> dict:
    return {
        "connection_id": connection.pk,
        "label": connection.label,
        "environment": connection.environment,
        "key_type": connection.key_type,
        "key": connection.masked_key,
    }


# --- services ------------------------------------------------------------------------------------


def connection_create(
    *,
    user: User,
    label: str,
    environment: str,
    key_type: str,
    api_key: str,
    secret: str,
    request=None,
    demo: bool = False,
) -> ExchangeConnection:
    """Validate and store a new connection with encrypted keys (not tested yet).

    Raises ApplicationError "invalid" naming every bad field; nothing is written then.
    """
    fields: dict[str, list[str]] = {}
    label, problem = _clean_label(label)
    if problem:
        fields["label"] = [problem]
    env, problem = clean_environment(environment)
    if problem:
        fields["environment"] = [problem]
    keys, key_fields = _collect_key_errors(key_type=key_type, api_key=api_key, secret=secret)
    fields.update(key_fields)
    if "label" not in fields and _label_taken(user, label):
        fields["label"] = [_label_taken_message(label)]
    if fields:
        raise_invalid(fields)
    assert keys is not None and env is not None
    try:
        with transaction.atomic():
            connection = ExchangeConnection.objects.create(
                owner=user,
                label=label,
                environment=env,
                key_type=keys.key_type,
                api_key_encrypted=crypto.encrypt(keys.api_key),
                secret_encrypted=crypto.encrypt(keys.secret),
                key_last4=keys.last4,
            )
            audit_record(
                user=user,
                action="connection.created",
                request=request,
                demo=demo,
                **_audit_details(connection),
            )
            events.publish(
                user_id=user.pk,
                event_type="connection.created",
                data=connection_public_data(connection),
            )
            if not demo:
                notify_security_event(
                    user=user,
                    subject="API key added",
                    body=f"A Binance API key ending in {keys.last4} was added to KLINEO as "
                    f"'{label}' ({connection.get_environment_display()}).",
                    request=request,
                )
    except IntegrityError as exc:
        raise ApplicationError(
            _label_taken_message(label),
            code="invalid",
            fields={"label": [_label_taken_message(label)]},
        ) from exc
    return connection


def connection_update(
    *,
    user: User,
    connection: ExchangeConnection,
    label: str | None = None,
    environment: str | None = None,
    key_type: str | None = None,
    api_key: str | None = None,
    secret: str | None = None,
    request=None,
) -> ExchangeConnection:
    """Rename a connection, or replace its keys / environment.

    Replacing keys (either one, the other is kept) or changing the environment or key type
    clears the test results and turns futures off: they described other keys. Callers must
    require a recent re-authentication for those changes.
    """
    fields: dict[str, list[str]] = {}
    new_label = connection.label
    if label is not None:
        new_label, problem = _clean_label(label)
        if problem:
            fields["label"] = [problem]
        elif _label_taken(user, new_label, exclude_pk=connection.pk):
            fields["label"] = [_label_taken_message(new_label)]
    new_env = connection.environment
    if environment is not None:
        env, problem = clean_environment(environment)
        if problem:
            fields["environment"] = [problem]
        else:
            new_env = env
    keys_changed = any(value not in (None, "") for value in (api_key, secret)) or (
        key_type not in (None, "") and key_type.strip().upper() != connection.key_type
    )
    keys: KeyInput | None = None
    if keys_changed:
        kind = (key_type or connection.key_type).strip().upper()
        if kind != connection.key_type and not secret:
            fields["secret"] = ["A new key type needs its secret key or private key as well."]
        else:
            try:
                stored = _stored_keys(connection)
            except crypto.DecryptionError:
                stored = KeyInput(key_type=kind, api_key="", secret="")
            keys, key_fields = _collect_key_errors(
                key_type=kind,
                api_key=api_key if api_key else stored.api_key,
                secret=secret if secret else stored.secret,
            )
            fields.update(key_fields)
    if fields:
        raise_invalid(fields)

    reset = keys_changed or new_env != connection.environment
    with transaction.atomic():
        locked = ExchangeConnection.objects.select_for_update().get(pk=connection.pk)
        if locked.deleted_at is not None:
            raise ApplicationError(
                "This connection was deleted.", code="not_found", status_code=404
            )
        changes: dict = {}
        if new_label != locked.label:
            changes["label"] = {"from": locked.label, "to": new_label}
            locked.label = new_label
        if new_env != locked.environment:
            changes["environment"] = {"from": locked.environment, "to": new_env}
            locked.environment = new_env
        if keys is not None:
            changes["key"] = {"from": locked.masked_key, "to": f"…{keys.last4}"}
            locked.key_type = keys.key_type
            locked.api_key_encrypted = crypto.encrypt(keys.api_key)
            locked.secret_encrypted = crypto.encrypt(keys.secret)
            locked.key_last4 = keys.last4
        if reset:
            locked.last_tested_at = None
            locked.last_test_ok = None
            locked.last_test_report = {}
            locked.futures_tested_at = None
            locked.futures_test_ok = None
            locked.futures_test_report = {}
            locked.futures_enabled = False
        try:
            with transaction.atomic():
                locked.save()
        except IntegrityError as exc:
            raise ApplicationError(
                _label_taken_message(new_label),
                code="invalid",
                fields={"label": [_label_taken_message(new_label)]},
            ) from exc
        if changes:
            action = "connection.keys_replaced" if reset else "connection.renamed"
            audit_record(
                user=user, action=action, request=request, changes=changes, **_audit_details(locked)
            )
            events.publish(
                user_id=user.pk,
                event_type="connection.updated",
                data=connection_public_data(locked),
            )
            if reset:
                notify_security_event(
                    user=user,
                    subject="API key replaced",
                    body=f"The keys or environment of the connection '{locked.label}' were "
                    f"changed (now a key ending in {locked.key_last4}, "
                    f"{locked.get_environment_display()}).",
                    request=request,
                )
    if reset:
        cache.delete(balances_cache_key(locked))
    return locked


def _erase(connection: ExchangeConnection, now) -> None:
    connection.api_key_encrypted = ""
    connection.secret_encrypted = ""
    connection.futures_enabled = False
    connection.deleted_at = now
    connection.save(
        update_fields=[
            "api_key_encrypted",
            "secret_encrypted",
            "futures_enabled",
            "deleted_at",
            "updated_at",
        ]
    )


def connection_delete(*, user: User, connection: ExchangeConnection, request=None) -> None:
    """Erase the connection's secrets and hide it; the row stays so its orders keep history."""
    with transaction.atomic():
        locked = ExchangeConnection.objects.select_for_update().get(pk=connection.pk)
        if locked.deleted_at is not None:
            return
        _erase(locked, timezone.now())
        audit_record(
            user=user, action="connection.deleted", request=request, **_audit_details(locked)
        )
        events.publish(user_id=user.pk, event_type="connection.deleted", data={"id": locked.pk})
    cache.delete(balances_cache_key(locked))


def connections_erase_for_user(*, user: User, request=None) -> int:
    """Erase the secrets of every connection of `user` (account deletion). Returns the count.

    Rows stay (soft-deleted) so orders keep their connection; call inside the account-deletion
    transaction or on its own.
    """
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            ExchangeConnection.objects.select_for_update().filter(
                owner=user, deleted_at__isnull=True
            )
        )
        for connection in rows:
            _erase(connection, now)
        if rows:
            audit_record(
                user=user,
                action="connection.erased_all",
                request=request,
                count=len(rows),
                connection_ids=[c.pk for c in rows],
            )
    for connection in rows:
        cache.delete(balances_cache_key(connection))
    return len(rows)


# --- sandbox demo keys ---------------------------------------------------------------------------

DEMO_LABEL = "Sandbox demo"


def _demo_label(user: User, label: str | None) -> str:
    if label and label.strip():
        return label
    candidate, n = DEMO_LABEL, 1
    while _label_taken(user, candidate):
        n += 1
        candidate = f"{DEMO_LABEL} {n}"
    return candidate


def connection_create_demo(
    *, user: User, label: str | None = None, key_type: str = KeyType.HMAC, request=None
) -> ExchangeConnection:
    """Ask the local sandbox exchange for a funded key pair and store it as a connection.

    The sandbox's control API (POST /sandbox/v1/keys) creates an account with demo balances;
    the secret goes straight into encrypted storage and is never shown.
    """
    kind, problem = _key_type_problem(key_type)
    if problem:
        raise_invalid({"key_type": [problem]})
    url = f"{sandbox_http_url()}/sandbox/v1/keys"
    try:
        response = requests.post(url, json={"key_type": kind}, timeout=(3.05, 10))
        response.raise_for_status()
        data = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ApplicationError(
            f"The sandbox exchange did not answer at {sandbox_http_url()}. Start it with "
            "`python manage.py run_sandbox` (`make run` starts it for you), or set SANDBOX_HOST "
            "/ SANDBOX_PORT to where it runs.",
            code="sandbox_unavailable",
            status_code=503,
        ) from exc
    secret = data.get("secretKey") if kind == KeyType.HMAC else data.get("privateKey")
    if not data.get("apiKey") or not secret:
        raise ApplicationError(
            "The sandbox exchange returned no usable key pair.",
            code="sandbox_unavailable",
            status_code=503,
        )
    return connection_create(
        user=user,
        label=_demo_label(user, label),
        environment=Environment.SANDBOX,
        key_type=kind,
        api_key=data["apiKey"],
        secret=secret,
        request=request,
        demo=True,
    )
