"""A new user signs up, lands on the dashboard, logs out, is kept out, and logs back in."""

import pytest

from accounts.models import User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STRONG = "a-Strong-passphrase-42"


def test_signup_logout_login_in_a_real_browser(page, live_app):
    page.goto("/accounts/signup/")
    page.fill("#id_email", "browser@example.com")
    page.fill("#id_password1", STRONG)
    page.fill("#id_password2", STRONG)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_app.url}/")
    assert page.locator("[data-testid=dashboard]").is_visible()
    assert User.objects.filter(email="browser@example.com").exists()

    page.click("[data-testid=logout]")
    page.wait_for_url("**/accounts/login/")
    page.goto("/")
    assert "/accounts/login/" in page.url

    page.fill("#id_username", "browser@example.com")
    page.fill("#id_password", "wrong-password")
    page.click("main button[type=submit]")
    assert page.get_by_text("Wrong e-mail or password.").is_visible()

    page.fill("#id_password", STRONG)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_app.url}/")
    assert page.locator("[data-testid=dashboard]").is_visible()


def test_password_change_in_a_real_browser(page, live_app):
    User.objects.create_user(email="pw@example.com", password=STRONG)
    page.goto("/accounts/login/")
    page.fill("#id_username", "pw@example.com")
    page.fill("#id_password", STRONG)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{live_app.url}/")
    page.goto("/accounts/password/change/")
    page.fill("#id_old_password", STRONG)
    page.fill("#id_new_password1", STRONG + "-new")
    page.fill("#id_new_password2", STRONG + "-new")
    page.click("main button[type=submit]")
    page.wait_for_url("**/accounts/profile/")
    assert page.get_by_text("Your password has been changed.").is_visible()
    assert User.objects.get(email="pw@example.com").check_password(STRONG + "-new")
