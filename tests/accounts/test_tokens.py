"""Scoped API tokens: creation after re-auth, shown once, stored hashed, refused when they
should be (expired, revoked, wrong IP), last use recorded, revocation."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, AuditEvent
from accounts.services.tokens import api_token_create
from tests.factories import UserFactory
from tests.fixtures.security import jwt_client, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()


def _me(client, **extra):
    return client.get("/api/auth/me", **extra)


def test_api_creation_needs_reauth_and_shows_the_token_once(user, reauthenticated_api_client):
    stale = jwt_client(user)
    body = {"name": "grid bot", "scopes": ["VIEW_BALANCES", "PLACE_ORDERS"]}
    refused = stale.post("/api/auth/tokens", body, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "reauth_required"
    assert not ApiToken.objects.exists()

    created = reauthenticated_api_client.post(
        "/api/auth/tokens",
        {**body, "allowed_networks": ["10.1.2.3", "192.168.0.0/16"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    data = created.json()
    raw = data.pop("token")
    assert re.fullmatch(r"kln_[0-9a-f]{12}[A-Za-z0-9_-]{43}", raw)
    token = ApiToken.objects.get()
    assert data == {
        "id": token.pk,
        "name": "grid bot",
        "prefix": f"kln_{raw[4:16]}…",
        "scopes": ["VIEW_BALANCES", "PLACE_ORDERS"],
        "allowed_networks": ["10.1.2.3/32", "192.168.0.0/16"],
        "expires_at": None,
        "created_at": token.created_at.isoformat().replace("+00:00", "Z"),
        "last_used_at": None,
        "last_used_ip": None,
        "revoked_at": None,
        "active": True,
    }
    # Only the digest is stored; the listing never shows the token again.
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(ApiToken.objects.values().get())
    listing = reauthenticated_api_client.get("/api/auth/tokens")
    assert raw not in listing.content.decode()
    assert [item["name"] for item in listing.json()] == ["grid bot"]
    event = AuditEvent.objects.get(user=user, action="token.created")
    assert raw not in str(event.details)


def test_api_creation_validates_input(reauthenticated_api_client):
    response = reauthenticated_api_client.post(
        "/api/auth/tokens",
        {"name": "x", "scopes": ["VIEW_BALANCES"], "allowed_networks": ["not-an-ip"]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "allowed_networks": ["Not an IP address or CIDR range: not-an-ip."]
    }
    response = reauthenticated_api_client.post(
        "/api/auth/tokens", {"name": "x", "scopes": ["WITHDRAW"]}, format="json"
    )
    assert response.status_code == 400
    assert "scopes.0" in response.json()["error"]["fields"]
    past = (timezone.now() - timedelta(days=1)).isoformat()
    response = reauthenticated_api_client.post(
        "/api/auth/tokens",
        {"name": "x", "scopes": ["VIEW_BALANCES"], "expires_at": past},
        format="json",
    )
    assert response.json()["error"]["fields"] == {
        "expires_at": ["The expiry must be in the future."]
    }


def test_web_creation_needs_reauth_and_shows_the_token_once(reauthenticated_client):
    user = reauthenticated_client.user
    response = reauthenticated_client.post(
        "/accounts/tokens/new/",
        {
            "name": "tax export",
            "scopes": ["VIEW_ORDERS"],
            "expires_in_days": "30",
            "allowed_networks": "203.0.113.7\n198.51.100.0/24",
        },
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw = re.search(r"kln_[0-9a-f]{12}[A-Za-z0-9_-]{43}", response.content.decode()).group(0)
    token = ApiToken.objects.get(user=user)
    assert token.allowed_networks == ["198.51.100.0/24", "203.0.113.7/32"]
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    page = reauthenticated_client.get("/accounts/tokens/")
    assert raw not in page.content.decode()
    assert token.display_prefix in page.content.decode()


def test_web_creation_without_reauth_goes_to_the_reauth_page(client, user):
    client.force_login(user)
    response = client.post("/accounts/tokens/new/", {"name": "x", "scopes": ["VIEW_ORDERS"]})
    assert response.status_code == 302
    assert response.url.startswith("/accounts/reauth/?next=")
    assert not ApiToken.objects.exists()


def test_token_authenticates_and_records_last_use(user):
    client = token_client(user, ["VIEW_BALANCES"])
    response = _me(client, REMOTE_ADDR="10.9.8.7")
    assert response.status_code == 200
    assert response.json()["permissions"] == ["VIEW_BALANCES"]
    token = ApiToken.objects.get()
    assert token.last_used_ip == "10.9.8.7"
    assert token.last_used_at is not None


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Token kln_nothing", "token_invalid"),
        ("Token kln_000000000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "token_invalid"),
        ("Token", "token_invalid"),
        ("Token a b", "token_invalid"),
    ],
)
def test_malformed_or_unknown_tokens_are_refused(header, code):
    response = APIClient().get("/api/auth/me", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code


def test_tampered_token_is_refused(user):
    _, raw = api_token_create(user=user, name="x", scopes=["VIEW_ORDERS"])
    tampered = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    response = APIClient().get("/api/auth/me", HTTP_AUTHORIZATION=f"Token {tampered}")
    assert response.json()["error"]["code"] == "token_invalid"


def test_expired_token_is_refused(user):
    token, raw = api_token_create(
        user=user, name="x", scopes=["VIEW_ORDERS"], expires_at=timezone.now() + timedelta(hours=1)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    assert _me(client).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _me(client)
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "token_expired",
        "message": "This API token has expired. Create a new one.",
    }


def test_revoked_token_is_refused_at_once(user, reauthenticated_api_client):
    owner = reauthenticated_api_client.user
    token, raw = api_token_create(user=owner, name="x", scopes=["VIEW_ORDERS"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    assert _me(client).status_code == 200
    response = reauthenticated_api_client.delete(f"/api/auth/tokens/{token.pk}")
    assert response.status_code == 204
    response = _me(client)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_revoked"
    assert AuditEvent.objects.filter(user=owner, action="token.revoked").count() == 1


def test_revoking_another_users_token_is_404(user):
    other_token, _ = api_token_create(user=UserFactory(), name="x", scopes=["VIEW_ORDERS"])
    client = jwt_client(user)
    response = client.delete(f"/api/auth/tokens/{other_token.pk}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    other_token.refresh_from_db()
    assert other_token.revoked_at is None


def test_web_revoke(client, user):
    token, _ = api_token_create(user=user, name="old bot", scopes=["VIEW_ORDERS"])
    client.force_login(user)
    response = client.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    other, _ = api_token_create(user=UserFactory(), name="x", scopes=["VIEW_ORDERS"])
    assert client.post(f"/accounts/tokens/{other.pk}/revoke/").status_code == 404


@pytest.mark.parametrize(
    ("networks", "ip", "allowed"),
    [
        (["10.0.0.0/8"], "10.20.30.40", True),
        (["10.0.0.0/8"], "11.0.0.1", False),
        (["203.0.113.7"], "203.0.113.7", True),
        (["203.0.113.7"], "203.0.113.8", False),
        (["2001:db8::/32"], "2001:db8::1", True),
        (["2001:db8::/32"], "10.0.0.1", False),
        ([], "198.51.100.1", True),
    ],
)
def test_ip_allow_list(user, networks, ip, allowed):
    client = token_client(user, ["VIEW_ORDERS"], allowed_networks=networks)
    response = _me(client, REMOTE_ADDR=ip)
    if allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert response.json()["error"] == {
            "code": "token_ip_not_allowed",
            "message": f"This API token may not be used from {ip}.",
        }


def test_tokens_of_a_deactivated_user_are_refused(user):
    client = token_client(user, ["VIEW_ORDERS"])
    user.is_active = False
    user.save()
    assert _me(client).json()["error"]["code"] == "token_invalid"


def test_a_token_cannot_manage_tokens_or_reauthenticate(user):
    client = token_client(
        user, ["VIEW_BALANCES", "VIEW_ORDERS", "PLACE_ORDERS", "MANAGE_CONNECTIONS"]
    )
    for method, url, body in [
        ("get", "/api/auth/tokens", None),
        ("post", "/api/auth/tokens", {"name": "x", "scopes": ["VIEW_ORDERS"]}),
        ("post", "/api/auth/reauth", {"password": "x"}),
    ]:
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "token_not_allowed"
