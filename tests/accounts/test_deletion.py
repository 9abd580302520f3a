"""Account deletion: re-auth required; secrets and personal data erased; history kept."""

import sys
import types

import pytest
from django.core.cache import cache
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import ApiToken, AuditEvent, RecoveryCode, User, UserSession
from accounts.services import audit_record
from accounts.services.tokens import api_token_create
from accounts.services.two_factor import totp_enrolment_confirm, totp_enrolment_start
from tests.factories import PASSWORD
from tests.fixtures.security import reauthenticate, totp_code

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear():
    cache.clear()


def test_deletion_needs_reauth(client, user):
    client.force_login(user)
    response = client.post("/accounts/delete/", {"confirm_email": user.email})
    assert response.status_code == 302
    assert response.url.startswith("/accounts/reauth/")
    user.refresh_from_db()
    assert user.is_active and user.deleted_at is None


def test_deletion_needs_the_email_typed(reauthenticated_client):
    response = reauthenticated_client.post("/accounts/delete/", {"confirm_email": "x@y.z"})
    assert response.status_code == 200
    assert "That is not your e-mail address." in response.content.decode()


def test_deletion_erases_secrets_and_personal_data_and_keeps_history(client, user):
    device = totp_enrolment_start(user=user)
    totp_enrolment_confirm(user=user, code=totp_code(device))
    api_token_create(user=user, name="bot", scopes=["VIEW_ORDERS"])
    other_browser = Client(REMOTE_ADDR="10.0.0.2")
    other_browser.force_login(user)
    other_browser.get("/accounts/security/")
    client.post(
        "/accounts/login/", {"username": user.email, "password": "wrong"}, REMOTE_ADDR="10.0.0.3"
    )
    audit_record(user=user, action="order.placed", order_id=42)
    email = user.email
    client.force_login(user)
    reauthenticate(client, otp=totp_code(device, steps=1))

    response = client.post("/accounts/delete/", {"confirm_email": email.upper()})
    assert response.status_code == 302
    assert response.url == "/accounts/login/"

    user.refresh_from_db()
    assert user.email == f"deleted-{user.pk}@deleted.invalid"
    assert user.display_name == ""
    assert not user.has_usable_password()
    assert not user.is_active and user.deleted_at is not None
    assert user.kill_switch_enabled
    assert not ApiToken.objects.filter(user=user).exists()
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not RecoveryCode.objects.filter(user=user).exists()
    assert not UserSession.objects.filter(user=user).exists()
    assert other_browser.get("/").status_code == 302  # logged out everywhere
    # History stays, without addresses, agents or the e-mail.
    events = AuditEvent.objects.filter(user=user)
    assert events.filter(action="order.placed", details__order_id=42).exists()
    assert events.filter(action="account.deleted").exists()
    assert not events.exclude(ip_address=None).exists()
    assert not events.exclude(user_agent="").exists()
    assert not AuditEvent.objects.filter(details__email__iexact=email).exists()
    assert not User.objects.filter(email=email).exists()
    # The old credentials no longer work.
    assert (
        Client()
        .post(
            "/api/auth/login",
            {"email": email, "password": PASSWORD},
            content_type="application/json",
        )
        .status_code
        == 401
    )


def test_deletion_calls_the_exchanges_erase_hook(reauthenticated_client, monkeypatch):
    import exchanges

    erased = []
    hook_module = types.ModuleType("exchanges.services")
    hook_module.connections_erase_for_user = lambda *, user: erased.append(user.pk)
    monkeypatch.setitem(sys.modules, "exchanges.services", hook_module)
    monkeypatch.setattr(exchanges, "services", hook_module, raising=False)
    user = reauthenticated_client.user
    response = reauthenticated_client.post("/accounts/delete/", {"confirm_email": user.email})
    assert response.status_code == 302
    assert erased == [user.pk]
