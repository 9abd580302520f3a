"""Two-factor authentication: enrolment, login (web and API), recovery codes, throttling."""

import re

import pytest
from django.core.cache import cache
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AuditEvent, RecoveryCode
from accounts.services.two_factor import totp_enrolment_confirm, totp_enrolment_start
from tests.factories import PASSWORD, UserFactory
from tests.fixtures.security import reauthenticate, totp_code

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_axes():
    from axes.utils import reset

    reset()
    cache.clear()


def enable_2fa(user) -> tuple[TOTPDevice, list[str]]:
    """2FA on, enrolled with the current code: the next valid code is totp_code(steps=1)."""
    device = totp_enrolment_start(user=user)
    codes = totp_enrolment_confirm(user=user, code=totp_code(device))
    device.refresh_from_db()
    return device, codes


def test_enrolment_needs_reauth_then_shows_qr_and_confirms(client, user):
    client.force_login(user)
    response = client.get("/accounts/security/2fa/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/reauth/")

    reauthenticate(client)
    page = client.get("/accounts/security/2fa/")
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    html = page.content.decode()
    assert 'src="data:image/svg+xml;base64,' in html
    device = TOTPDevice.objects.get(user=user, confirmed=False)

    wrong = client.post("/accounts/security/2fa/", {"code": "000000"})
    assert wrong.status_code == 200
    assert "That code is not valid." in wrong.content.decode()
    device.refresh_from_db()
    device.throttle_reset()  # the next attempt is immediate; throttling is tested below

    response = client.post("/accounts/security/2fa/", {"code": totp_code(device)})
    assert response.status_code == 200
    codes = re.findall(
        r"<li>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</li>", response.content.decode()
    )
    assert len(codes) == 10
    device.refresh_from_db()
    assert device.confirmed
    # Stored as salted digests only.
    stored = list(RecoveryCode.objects.filter(user=user).values_list("code_hash", flat=True))
    assert len(stored) == 10
    assert not any(code.replace("-", "") in h for code in codes for h in stored)
    assert AuditEvent.objects.filter(user=user, action="2fa.enabled").count() == 1


def test_web_login_asks_for_the_code(client):
    user = UserFactory()
    device, _ = enable_2fa(user)
    response = client.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == "/accounts/login/2fa/"
    # Not logged in yet.
    assert client.get("/").status_code == 302
    wrong = client.post("/accounts/login/2fa/", {"code": "123456"})
    assert wrong.status_code == 200
    assert "That code is not valid." in wrong.content.decode()
    assert client.get("/").status_code == 302
    device.refresh_from_db()
    device.throttle_reset()
    response = client.post("/accounts/login/2fa/", {"code": totp_code(device, steps=1)})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    login = AuditEvent.objects.get(user=user, action="auth.login")
    assert login.details == {"via": "web", "second_factor": "totp"}
    failed = AuditEvent.objects.get(user=user, action="auth.login_failed")
    assert failed.details["reason"] == "otp_invalid"


def test_web_login_without_2fa_is_one_step(client, user):
    response = client.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == "/"


def test_second_step_without_password_step_goes_back_to_login(client):
    response = client.get("/accounts/login/2fa/")
    assert response.status_code == 302
    assert response.url == "/accounts/login/"


def test_api_login_requires_the_code(api_client):
    user = UserFactory()
    device, _ = enable_2fa(user)
    creds = {"email": user.email, "password": PASSWORD}
    response = api_client.post("/api/auth/login", creds, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "otp_required"
    response = api_client.post("/api/auth/login", {**creds, "otp": "000000"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "otp_invalid"
    device.refresh_from_db()
    device.throttle_reset()
    response = api_client.post(
        "/api/auth/login", {**creds, "otp": totp_code(device, steps=1)}, format="json"
    )
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access", "refresh", "user"}
    # The same code cannot be replayed.
    device.refresh_from_db()
    response = api_client.post(
        "/api/auth/login", {**creds, "otp": totp_code(device, steps=1)}, format="json"
    )
    assert response.json()["error"]["code"] == "otp_invalid"


def test_wrong_password_with_2fa_is_still_invalid_credentials(api_client):
    user = UserFactory()
    enable_2fa(user)
    response = api_client.post(
        "/api/auth/login", {"email": user.email, "password": "nope", "otp": "1"}, format="json"
    )
    assert response.json()["error"]["code"] == "invalid_credentials"


def test_recovery_code_works_once(api_client):
    user = UserFactory()
    _, codes = enable_2fa(user)
    creds = {"email": user.email, "password": PASSWORD}
    response = api_client.post("/api/auth/login", {**creds, "otp": codes[3].upper()}, format="json")
    assert response.status_code == 200, response.content
    assert RecoveryCode.objects.filter(user=user, used_at__isnull=False).count() == 1
    TOTPDevice.objects.get(user=user).throttle_reset()
    again = api_client.post("/api/auth/login", {**creds, "otp": codes[3]}, format="json")
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "otp_invalid"


def test_web_login_with_recovery_code_warns_how_many_are_left(client):
    user = UserFactory()
    _, codes = enable_2fa(user)
    client.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    response = client.post("/accounts/login/2fa/", {"code": codes[0]}, follow=True)
    assert response.status_code == 200
    assert "You used a recovery code; 9 left." in response.content.decode()


def test_django_otp_throttles_codes_right_after_a_failure(api_client):
    user = UserFactory()
    device, _ = enable_2fa(user)
    creds = {"email": user.email, "password": PASSWORD}
    api_client.post("/api/auth/login", {**creds, "otp": "000000"}, format="json")
    # Even the right code is refused while the back-off (1 s, 2 s, 4 s, ...) runs.
    response = api_client.post(
        "/api/auth/login", {**creds, "otp": totp_code(device, steps=1)}, format="json"
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "otp_throttled"


def test_brute_forcing_codes_locks_the_account_out(api_client, client, settings):
    user = UserFactory()
    device, _ = enable_2fa(user)
    creds = {"email": user.email, "password": PASSWORD}
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        device.refresh_from_db()
        device.throttle_reset()  # skip django-otp's back-off: prove the axes lockout alone
        response = api_client.post(
            "/api/auth/login", {**creds, "otp": f"{attempt:06d}"}, format="json"
        )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "locked_out"
    device.refresh_from_db()
    device.throttle_reset()
    # Locked out: the right password and the right code are refused, on the API and the web.
    response = api_client.post(
        "/api/auth/login", {**creds, "otp": totp_code(device, steps=1)}, format="json"
    )
    assert response.status_code == 429
    web = client.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    assert web.status_code == 429


def test_web_second_step_locks_out(client, settings):
    user = UserFactory()
    device, _ = enable_2fa(user)
    client.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        device.refresh_from_db()
        device.throttle_reset()
        response = client.post("/accounts/login/2fa/", {"code": f"{attempt:06d}"})
    assert response.status_code == 429
    device.refresh_from_db()
    device.throttle_reset()
    response = client.post("/accounts/login/2fa/", {"code": totp_code(device, steps=1)})
    assert response.status_code == 429
    assert client.get("/").status_code == 302


def test_disable_needs_password_and_code(client):
    user = UserFactory()
    device, _ = enable_2fa(user)
    client.force_login(user)
    response = client.post(
        "/accounts/security/2fa/disable/", {"password": PASSWORD, "otp": ""}, follow=True
    )
    assert TOTPDevice.objects.filter(user=user).exists()
    response = client.post(
        "/accounts/security/2fa/disable/",
        {"password": "wrong", "otp": totp_code(device, steps=1)},
        follow=True,
    )
    assert "Two-factor authentication is still on: Wrong password." in response.content.decode()
    assert TOTPDevice.objects.filter(user=user).exists()
    response = client.post(
        "/accounts/security/2fa/disable/",
        {"password": PASSWORD, "otp": totp_code(device, steps=1)},
        follow=True,
    )
    assert "Two-factor authentication is off." in response.content.decode()
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not RecoveryCode.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(user=user, action="2fa.disabled").count() == 1


def test_reauth_with_2fa_needs_the_code(client):
    user = UserFactory()
    device, _ = enable_2fa(user)
    client.force_login(user)
    response = client.post("/accounts/reauth/", {"password": PASSWORD, "next": "/"})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    response = client.post(
        "/accounts/reauth/", {"password": PASSWORD, "otp": totp_code(device, steps=1)}
    )
    assert response.status_code == 302


def test_regenerating_recovery_codes_needs_reauth_and_replaces_them(client):
    user = UserFactory()
    device, old_codes = enable_2fa(user)
    client.force_login(user)
    response = client.post("/accounts/security/2fa/recovery-codes/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/reauth/")
    reauthenticate(client, otp=totp_code(device, steps=1))
    response = client.post("/accounts/security/2fa/recovery-codes/")
    assert response.status_code == 200
    assert "Your previous codes no longer work." in response.content.decode()
    from accounts.services.two_factor import second_factor_check

    assert not second_factor_check(user=user, code=old_codes[0]).ok
