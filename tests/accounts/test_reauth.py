"""Re-authentication: web page, API endpoint, the helper other apps call, expiry."""

import pytest
from django.core.cache import cache
from django.test import RequestFactory

from accounts import reauth
from accounts.models import AuditEvent
from tests.factories import PASSWORD
from tests.fixtures.security import jwt_client, reauthenticate

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_axes():
    from axes.utils import reset

    reset()
    cache.clear()


def test_reauth_page_records_time_and_redirects_to_next(client, user):
    client.force_login(user)
    page = client.get("/accounts/reauth/?next=/accounts/tokens/new/")
    assert page.status_code == 200
    assert b'name="otp"' not in page.content  # no 2FA: password only
    response = client.post(
        "/accounts/reauth/", {"password": PASSWORD, "next": "/accounts/tokens/new/"}
    )
    assert response.status_code == 302
    assert response.url == "/accounts/tokens/new/"
    assert client.get("/accounts/tokens/new/").status_code == 200
    assert AuditEvent.objects.filter(user=user, action="auth.reauthenticated").count() == 1


def test_reauth_page_refuses_wrong_password_and_foreign_next(client, user):
    client.force_login(user)
    response = client.post("/accounts/reauth/", {"password": "nope", "next": "/"})
    assert response.status_code == 200
    assert "Wrong password." in response.content.decode()
    assert AuditEvent.objects.filter(user=user, action="auth.reauth_failed").count() == 1
    response = client.post(
        "/accounts/reauth/", {"password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response.url == "/accounts/security/"


def test_reauth_page_requires_login(client):
    response = client.get("/accounts/reauth/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_html_view_without_reauth_redirects_to_reauth_page(client, user):
    client.force_login(user)
    response = client.get("/accounts/tokens/new/")
    assert response.status_code == 302
    assert response.url == "/accounts/reauth/?next=%2Faccounts%2Ftokens%2Fnew%2F"


def test_reauth_expires_after_ten_minutes(client, user, monkeypatch):
    client.force_login(user)
    reauthenticate(client)
    real_now = reauth._now()
    monkeypatch.setattr(reauth, "_now", lambda: real_now + reauth.REAUTH_MAX_AGE - 5)
    assert client.get("/accounts/tokens/new/").status_code == 200
    monkeypatch.setattr(reauth, "_now", lambda: real_now + reauth.REAUTH_MAX_AGE + 5)
    response = client.get("/accounts/tokens/new/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/reauth/")


def test_api_reauth_returns_access_token_with_proof(user):
    client = jwt_client(user)
    refused = client.post(
        "/api/auth/tokens", {"name": "bot", "scopes": ["VIEW_ORDERS"]}, format="json"
    )
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "reauth_required"
    assert error["action"] == "token.create"
    assert error["reauth_api"] == "/api/auth/reauth"

    response = client.post("/api/auth/reauth", {"password": PASSWORD}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["reauth_valid_seconds"] == 600
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    created = client.post(
        "/api/auth/tokens", {"name": "bot", "scopes": ["VIEW_ORDERS"]}, format="json"
    )
    assert created.status_code == 201, created.content


def test_api_reauth_wrong_password(user):
    client = jwt_client(user)
    response = client.post("/api/auth/reauth", {"password": "nope"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_refreshed_access_token_does_not_inherit_the_proof(api_client, user):
    from tests.fixtures.security import jwt_login

    tokens = jwt_login(api_client, user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    proof = api_client.post("/api/auth/reauth", {"password": PASSWORD}, format="json").json()
    assert "access" in proof
    refreshed = api_client.post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    response = api_client.post(
        "/api/auth/tokens", {"name": "bot", "scopes": ["VIEW_ORDERS"]}, format="json"
    )
    assert response.json()["error"]["code"] == "reauth_required"


def _drf_request(client_kind, user, **extra):
    """A DRF request as a view of another app would see it (through the real stack)."""
    from rest_framework.request import Request

    from accounts.authentication import ApiTokenAuthentication
    from accounts.services.tokens import api_token_create

    _, raw = api_token_create(user=user, name="s", scopes=extra.get("scopes", ["VIEW_ORDERS"]))
    django_request = RequestFactory().get("/api/x", HTTP_AUTHORIZATION=f"Token {raw}")
    return Request(django_request, authenticators=[ApiTokenAuthentication()])


def test_api_tokens_count_as_reauthenticated_for_their_scopes(user):
    request = _drf_request("token", user, scopes=["PLACE_ORDERS"])
    reauth.require_recent_auth(request, action="order.cancel_all")
    reauth.require_recent_auth(request, action="order.place", scope="PLACE_ORDERS")
    with pytest.raises(reauth.ApplicationError) as caught:
        reauth.require_recent_auth(request, action="connection.add", scope="MANAGE_CONNECTIONS")
    assert caught.value.code == "scope_missing"
    reauth.require_first_mainnet_order_auth(request)


def test_first_mainnet_order_needs_reauth_once_per_session(user, rf, monkeypatch):
    from django.contrib.sessions.backends.db import SessionStore

    request = rf.post("/orders/")
    request.user = user
    request.session = SessionStore()
    with pytest.raises(reauth.ReauthRequired):
        reauth.require_first_mainnet_order_auth(request)
    reauth.reauth_mark_session(request)
    reauth.require_first_mainnet_order_auth(request)
    # Later orders of the same session pass even after the re-auth window closed.
    later = reauth._now() + reauth.REAUTH_MAX_AGE + 60
    monkeypatch.setattr(reauth, "_now", lambda: later)
    reauth.require_first_mainnet_order_auth(request)
    # A new session asks again.
    request.session = SessionStore()
    with pytest.raises(reauth.ReauthRequired):
        reauth.require_first_mainnet_order_auth(request)


def _jwt_request(access: str):
    from rest_framework.request import Request
    from rest_framework_simplejwt.authentication import JWTAuthentication

    django_request = RequestFactory().post("/api/orders", HTTP_AUTHORIZATION=f"Bearer {access}")
    return Request(django_request, authenticators=[JWTAuthentication()])


def test_first_mainnet_order_over_jwt_is_per_login_and_survives_refresh(api_client, user):
    from tests.fixtures.security import jwt_login

    tokens = jwt_login(api_client, user)
    with pytest.raises(reauth.ReauthRequired):
        reauth.require_first_mainnet_order_auth(_jwt_request(tokens["access"]))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    proof = api_client.post("/api/auth/reauth", {"password": PASSWORD}, format="json").json()
    reauth.require_first_mainnet_order_auth(_jwt_request(proof["access"]))
    # A refreshed access token of the same login needs no new re-authentication...
    refreshed = api_client.post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    reauth.require_first_mainnet_order_auth(_jwt_request(refreshed.json()["access"]))
    # ...but a new login does.
    other_login = jwt_login(api_client, user)
    with pytest.raises(reauth.ReauthRequired):
        reauth.require_first_mainnet_order_auth(_jwt_request(other_login["access"]))
