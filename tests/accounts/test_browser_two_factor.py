"""In a real browser: turn on 2FA with an authenticator app, then log in with it."""

import base64
import time

import pytest
from django_otp.oath import TOTP

from accounts.models import User
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def app_code(secret: str, *, steps: int = 0) -> str:
    """What the phone's authenticator app shows for the secret typed in by hand."""
    totp = TOTP(base64.b32decode(secret.replace(" ", "")), step=30, digits=6)
    totp.time = time.time() + 30 * steps
    return f"{totp.token():06d}"


def test_enable_2fa_and_log_in_with_it(page, live_app):
    user = UserFactory(email="two-factor@example.com")
    csp_violations = []
    page.on(
        "console",
        lambda msg: (
            csp_violations.append(msg.text) if "Content Security Policy" in msg.text else None
        ),
    )

    page.goto("/accounts/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_app.url}/")

    page.click("[data-testid=nav-security]")
    page.wait_for_url("**/accounts/security/")
    page.click("[data-testid=two-factor-setup]")
    # Enrolling is a risky action: the password is asked again first.
    page.wait_for_url("**/accounts/reauth/**")
    page.fill("#id_password", PASSWORD)
    page.click("[data-testid=reauth-submit]")
    page.wait_for_url("**/accounts/security/2fa/")
    assert page.locator("img.security-qr").is_visible()
    secret = page.locator("[data-testid=totp-secret]").inner_text()
    page.fill("#id_code", app_code(secret))
    page.click("[data-testid=two-factor-confirm]")
    codes = page.locator("[data-testid=recovery-codes] li").all_inner_texts()
    assert len(codes) == 10
    assert User.objects.get(pk=user.pk).totpdevice_set.filter(confirmed=True).exists()

    page.click("[data-testid=logout]")
    page.wait_for_url("**/accounts/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/accounts/login/2fa/")
    page.fill("#id_code", "000000")
    page.click("[data-testid=login-2fa-submit]")
    assert page.get_by_text("That code is not valid.").is_visible()
    time.sleep(1.1)  # django-otp's back-off after a wrong code
    page.fill("#id_code", app_code(secret, steps=1))
    page.click("[data-testid=login-2fa-submit]")
    page.wait_for_url(f"{live_app.url}/")
    assert page.locator("[data-testid=dashboard]").is_visible()
    assert csp_violations == []
