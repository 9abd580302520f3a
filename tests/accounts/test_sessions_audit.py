"""Sessions page, audit log page, new-IP e-mails, security headers."""

import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from accounts.models import AuditEvent, UserSession
from accounts.services import audit_record
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear():
    from axes.utils import reset

    reset()
    cache.clear()


def _login(user, ip="127.0.0.1", agent="pytest-browser"):
    browser = Client(REMOTE_ADDR=ip, HTTP_USER_AGENT=agent)
    response = browser.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302
    browser.get("/accounts/security/")  # first request of the new session records it
    return browser


def test_sessions_are_listed_with_ip_and_agent(user):
    laptop = _login(user, "10.0.0.1", "Laptop Firefox")
    _login(user, "10.0.0.2", "Phone Safari")
    page = laptop.get("/accounts/sessions/").content.decode()
    assert "Laptop Firefox" in page and "Phone Safari" in page
    assert "10.0.0.1" in page and "10.0.0.2" in page
    assert page.count("this browser") == 1


def test_session_metadata_is_written_at_most_once_a_minute(user):
    browser = _login(user)
    row = UserSession.objects.get(user=user)
    seen = row.last_seen_at
    browser.get("/accounts/security/")
    row.refresh_from_db()
    assert row.last_seen_at == seen


def test_log_out_other_sessions(user):
    laptop = _login(user, "10.0.0.1")
    phone = _login(user, "10.0.0.2")
    tablet = _login(user, "10.0.0.3")
    response = laptop.post("/accounts/sessions/logout-others/")
    assert response.status_code == 302
    assert laptop.get("/").status_code == 200
    assert phone.get("/").status_code == 302
    assert tablet.get("/").status_code == 302
    assert UserSession.objects.filter(user=user).count() == 1
    assert AuditEvent.objects.filter(user=user, action="session.logged_out_others").exists()


def test_log_out_a_single_session_and_not_another_users(user):
    laptop = _login(user, "10.0.0.1")
    phone = _login(user, "10.0.0.2")
    phone_row = UserSession.objects.get(user=user, ip_address="10.0.0.2")
    assert laptop.post(f"/accounts/sessions/{phone_row.pk}/logout/").status_code == 302
    assert phone.get("/").status_code == 302
    assert laptop.get("/").status_code == 200
    stranger = _login(UserFactory(), "10.0.0.9")
    stranger_row = UserSession.objects.get(ip_address="10.0.0.9")
    assert laptop.post(f"/accounts/sessions/{stranger_row.pk}/logout/").status_code == 404
    assert stranger.get("/").status_code == 200


def test_audit_page_shows_own_events_filtered_and_paginated(client, user):
    other = UserFactory(email="other@example.com")
    audit_record(user=other, action="token.created", secret_marker="OTHER-USER")
    for n in range(60):
        audit_record(user=user, action="order.placed", n=n)
    audit_record(user=user, action="token.created", name="bot")
    old = audit_record(user=user, action="connection.added")
    AuditEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    client.force_login(user)

    page = client.get("/accounts/audit/").content.decode()
    assert "OTHER-USER" not in page
    assert "Page 1 of 2" in page
    tokens = client.get("/accounts/audit/?category=token").content.decode()
    assert "token.created" in tokens and "order.placed" not in tokens
    since = (timezone.now() - timedelta(days=7)).date().isoformat()
    recent = client.get(f"/accounts/audit/?category=connection&since={since}").content.decode()
    assert "connection.added" not in recent
    until = (timezone.now() - timedelta(days=30)).date().isoformat()
    older = client.get(f"/accounts/audit/?until={until}").content.decode()
    assert "connection.added" in older and "order.placed" not in older
    second = client.get("/accounts/audit/?page=2").content.decode()
    assert "Page 2 of 2" in second


def test_staff_see_every_users_events(client):
    staff = UserFactory(is_staff=True)
    audit_record(user=UserFactory(email="alice@example.com"), action="order.placed")
    audit_record(user=UserFactory(email="bob@example.com"), action="order.cancelled")
    client.force_login(staff)
    page = client.get("/accounts/audit/").content.decode()
    assert "alice@example.com" in page and "bob@example.com" in page
    only_bob = client.get("/accounts/audit/?user_email=bob@example.com").content.decode()
    assert "alice@example.com" not in only_bob and "order.cancelled" in only_bob


def test_audit_entries_for_login_events(client, user):
    client.post(
        "/accounts/login/",
        {"username": user.email, "password": "wrong"},
        REMOTE_ADDR="10.1.1.1",
        HTTP_USER_AGENT="curl/8",
    )
    client.post(
        "/accounts/login/",
        {"username": user.email, "password": PASSWORD},
        REMOTE_ADDR="10.1.1.1",
        HTTP_USER_AGENT="curl/8",
    )
    client.post("/accounts/logout/")
    events = list(
        AuditEvent.objects.filter(user=user)
        .order_by("id")
        .values_list("action", "ip_address", "user_agent")
    )
    assert events == [
        ("auth.login_failed", "10.1.1.1", "curl/8"),
        ("auth.login", "10.1.1.1", "curl/8"),
        ("auth.logout", "127.0.0.1", ""),
    ]


@pytest.mark.django_db(transaction=True)
def test_login_from_a_new_ip_sends_an_email_through_the_worker(celery_worker):
    user = UserFactory(email="alert-me@example.com")
    audit_record(user=user, action="auth.login")  # seen before from no address
    first = Client(REMOTE_ADDR="10.7.7.7")
    first.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    again = Client(REMOTE_ADDR="10.7.7.7")
    again.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    deadline = time.monotonic() + 20
    subject = "Subject: KLINEO: new login from an unfamiliar IP address"
    while subject not in celery_worker.output() and time.monotonic() < deadline:
        time.sleep(0.2)
    output = celery_worker.output()
    assert subject in output
    assert "10.7.7.7" in output
    assert output.count(subject) == 1  # the second login came from a known address


def test_security_headers_on_pages_and_api(client, user):
    client.force_login(user)
    response = client.get("/accounts/security/")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self';" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "connect-src 'self' ws://testserver wss://testserver" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    api = client.get("/api/auth/me")
    assert api["Content-Security-Policy"].startswith("default-src 'self'")
    assert "cdn.jsdelivr.net" in client.get("/api/docs/")["Content-Security-Policy"]


def test_no_inline_scripts_or_styles_in_account_pages(client, user):
    import re

    client.force_login(user)
    for url in [
        "/accounts/security/",
        "/accounts/tokens/",
        "/accounts/sessions/",
        "/accounts/audit/",
        "/accounts/profile/",
        "/accounts/reauth/",
    ]:
        html = client.get(url).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)", html), url
        assert " style=" not in html and "<style" not in html, url
        assert not re.search(r"\son[a-z]+=", html), url


def test_production_cookie_settings():
    import subprocess
    import sys

    from tests.test_platform import BASE_DIR

    env = {
        "SECRET_KEY": "x" * 50,
        "KLINEO_ENCRYPTION_KEYS": "cHJvZHVjdGlvbi1saWtlLWZlcm5ldC1rZXktMDAwMDE=",
        "KLINEO_ENV_FILE": "/nonexistent",
        "PATH": "/usr/bin:/bin",
    }
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='klineo.settings'; "
        "django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, "
        "s.CSRF_COOKIE_SECURE, s.X_FRAME_OPTIONS, s.SECURE_CONTENT_TYPE_NOSNIFF)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == ["True", "True", "Lax", "True", "DENY", "True"], result.stderr
