"""Scoped API tokens for scripts: create (plaintext returned once), revoke, authenticate."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken, Scope, User
from accounts.services import audit_record, client_ip, notify_security_event
from klineo.exceptions import ApplicationError, NotFoundError

TOKEN_PREFIX = "kln_"
_ID_LENGTH = 12
MAX_ACTIVE_TOKENS = 50
# Last-used bookkeeping is written at most this often per token (not on every request).
LAST_USED_WRITE_INTERVAL = timedelta(seconds=60)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _clean_networks(networks: Iterable[str]) -> list[str]:
    cleaned, bad = [], []
    for entry in networks:
        entry = (entry or "").strip()
        if not entry:
            continue
        try:
            cleaned.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            bad.append(entry)
    if bad:
        message = f"Not an IP address or CIDR range: {', '.join(bad)}."
        raise ApplicationError(message, code="invalid", fields={"allowed_networks": [message]})
    return sorted(set(cleaned))


def api_token_create(
    *,
    user: User,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None = None,
    allowed_networks: Iterable[str] = (),
    request=None,
) -> tuple[ApiToken, str]:
    """Create a token and return it with its plaintext, which is never stored or shown again.

    Callers must have required a fresh re-authentication (accounts.reauth.require_recent_auth).
    """
    fields: dict[str, list[str]] = {}
    name = (name or "").strip()[:80]
    if not name:
        fields["name"] = ["Give the token a name, e.g. the script that uses it."]
    order = [scope.value for scope in Scope]
    requested = {str(scope) for scope in scopes}
    if not requested or not requested <= set(order):
        fields["scopes"] = ["Choose at least one permission from: " + ", ".join(order)]
    scopes = [scope for scope in order if scope in requested]
    if expires_at is not None and expires_at <= timezone.now():
        fields["expires_at"] = ["The expiry must be in the future."]
    if fields:
        raise ApplicationError(next(iter(fields.values()))[0], code="invalid", fields=fields)
    networks = _clean_networks(allowed_networks)
    active = ApiToken.objects.filter(user=user, revoked_at__isnull=True)
    if active.count() >= MAX_ACTIVE_TOKENS:
        raise ApplicationError(
            f"You already have {MAX_ACTIVE_TOKENS} active tokens. Revoke unused ones first.",
            code="too_many_tokens",
        )
    token_id = secrets.token_hex(_ID_LENGTH // 2)
    raw = f"{TOKEN_PREFIX}{token_id}{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=token_id,
            token_hash=_digest(raw),
            scopes=scopes,
            allowed_networks=networks,
            expires_at=expires_at,
            created_ip=client_ip(request),
        )
        audit_record(
            user=user,
            action="token.created",
            request=request,
            token_id=token.pk,
            name=name,
            scopes=scopes,
            allowed_networks=networks,
            expires_at=expires_at.isoformat() if expires_at else None,
        )
        notify_security_event(
            user=user,
            subject="new API token",
            body=f'An API token named "{name}" was created with the permissions '
            f"{', '.join(scopes)}.",
            request=request,
        )
    return token, raw


def api_token_revoke(*, user: User, token_id: int, request=None) -> ApiToken:
    """Revoke one of the user's tokens at once; another user's token is "not found"."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(user=user, pk=token_id).first()
        if token is None:
            raise NotFoundError("No such token.")
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_record(
                user=user,
                action="token.revoked",
                request=request,
                token_id=token.pk,
                name=token.name,
            )
    return token


def api_token_authenticate(*, raw: str, request) -> ApiToken:
    """Return the active token for `raw` or raise ApplicationError saying why it is refused."""
    invalid = ApplicationError("The API token is not valid.", code="token_invalid", status_code=401)
    if not raw.startswith(TOKEN_PREFIX) or len(raw) < len(TOKEN_PREFIX) + _ID_LENGTH + 20:
        raise invalid
    token_id = raw[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + _ID_LENGTH]
    token = ApiToken.objects.select_related("user").filter(prefix=token_id).first()
    # Compare digests even for an unknown id so timing does not reveal which ids exist.
    expected = token.token_hash if token else _digest("")
    if not hmac.compare_digest(expected, _digest(raw)) or token is None:
        raise invalid
    if not token.user.is_active or token.user.deleted_at is not None:
        raise invalid
    now = timezone.now()
    if token.revoked_at is not None:
        raise ApplicationError("This API token was revoked.", code="token_revoked", status_code=401)
    if token.is_expired(now):
        raise ApplicationError(
            "This API token has expired. Create a new one.", code="token_expired", status_code=401
        )
    ip = client_ip(request)
    if token.allowed_networks:
        address = ipaddress.ip_address(ip) if ip else None
        if address is None or not any(
            address in ipaddress.ip_network(network) for network in token.allowed_networks
        ):
            raise ApplicationError(
                f"This API token may not be used from {ip or 'an unknown address'}.",
                code="token_ip_not_allowed",
                status_code=403,
            )
    if (
        token.last_used_at is None
        or now - token.last_used_at >= LAST_USED_WRITE_INTERVAL
        or token.last_used_ip != ip
    ):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
        token.last_used_at, token.last_used_ip = now, ip
    return token
