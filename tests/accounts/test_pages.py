import re

import pytest
from django.core import mail

from accounts.models import AuditEvent, User
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

STRONG = "a-Strong-passphrase-42"


def test_signup_logs_in_and_lands_on_dashboard(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "fresh@example.com", "password1": STRONG, "password2": STRONG},
    )
    assert response.status_code == 302
    assert response.url == "/"
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    assert b"Connect a Binance account" in dashboard.content
    assert User.objects.filter(email="fresh@example.com").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"email": "x@example.com", "password1": STRONG, "password2": STRONG + "x"},
            "The two passwords differ.",
        ),
        (
            {"email": "x@example.com", "password1": "short", "password2": "short"},
            "This password is too short.",
        ),
        (
            {"email": "nope", "password1": STRONG, "password2": STRONG},
            "Enter a valid email address.",
        ),
    ],
)
def test_signup_form_errors_are_shown(client, data, message):
    response = client.post("/accounts/signup/", data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.exists()


def test_dashboard_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_login_logout(client):
    user = UserFactory()
    response = client.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302
    actions = list(AuditEvent.objects.filter(user=user).values_list("action", flat=True))
    assert set(actions) == {"auth.login", "auth.logout"}


def test_login_with_wrong_password_shows_plain_error(client):
    user = UserFactory()
    response = client.post("/accounts/login/", {"username": user.email, "password": "nope"})
    assert response.status_code == 200
    assert "Wrong e-mail or password." in response.content.decode()


def test_password_change(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post(
        "/accounts/password/change/",
        {"old_password": PASSWORD, "new_password1": STRONG, "new_password2": STRONG},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(STRONG)


def test_password_reset_by_email(client):
    user = UserFactory(email="forgot@example.com")
    response = client.post("/accounts/password/reset/", {"email": "forgot@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/password/reset/[^\s]+)", mail.outbox[0].body)
    assert link
    form = client.get(link.group(1), follow=True)
    assert form.status_code == 200
    response = client.post(
        form.redirect_chain[-1][0], {"new_password1": STRONG, "new_password2": STRONG}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(STRONG)


def test_profile_update(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post("/accounts/profile/", {"display_name": "  Satoshi  "})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.display_name == "Satoshi"
    page = client.get("/accounts/profile/")
    assert b"Satoshi" in page.content


def test_web_login_lockout(client, settings):
    user = UserFactory()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": user.email, "password": "wrong"})
    response = client.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed login attempts" in response.content
