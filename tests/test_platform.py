"""The platform pieces every feature relies on: settings, health, Celery, Channels."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.core import mail

from accounts.tasks import send_email
from exchanges import events
from klineo.asgi import application
from tests.factories import UserFactory

BASE_DIR = Path(__file__).resolve().parents[1]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "KLINEO_TESTING"}}
    clean.update(env)
    clean["KLINEO_ENV_FILE"] = "/nonexistent"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_secrets():
    result = _manage("check")
    assert result.returncode != 0
    assert "SECRET_KEY and KLINEO_ENCRYPTION_KEYS must be set" in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY="x" * 20 + "-production-like-secret-key-with-enough-entropy-7Yq!",
        KLINEO_ENCRYPTION_KEYS="cHJvZHVjdGlvbi1saWtlLWZlcm5ldC1rZXktMDAwMDE=",
        ALLOWED_HOSTS="klineo.example.com",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_healthz_reports_each_part(client, celery_worker):
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "redis": True,
        "celery": True,
    }


@pytest.mark.django_db
def test_healthz_is_503_naming_the_failing_part(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"]["ok"] is False
    assert "ConnectionError" in body["checks"]["redis"]["error"]
    assert body["checks"]["database"]["ok"] is True


def test_a_real_worker_process_runs_a_task(celery_worker, tmp_path):
    result = send_email.delay(to="someone@example.com", subject="Hello", body="From the worker")
    assert result.get(timeout=30) is None
    assert result.status == "SUCCESS"
    # The worker (a separate process, console backend) printed the message.
    deadline = time.monotonic() + 5
    while "From the worker" not in celery_worker.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Subject: Hello" in celery_worker.output()
    assert mail.outbox == []  # nothing was sent in this process: it ran in the worker


@pytest.mark.django_db(transaction=True)
async def test_websocket_through_the_asgi_app_with_the_redis_layer(async_db_cleanup):
    from asgiref.sync import sync_to_async
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    user = await sync_to_async(UserFactory)()

    def make_session() -> str:
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        return session.session_key

    session_key = await sync_to_async(make_session)()
    headers = [
        (b"origin", b"http://127.0.0.1:8000"),
        (b"host", b"127.0.0.1:8000"),
        (b"cookie", f"sessionid={session_key}".encode()),
    ]
    communicator = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from(timeout=5)
    assert hello["type"] == "hello"

    # An event published by another part of the app travels through Redis to this socket.
    await sync_to_async(events.publish_now)(
        user_id=user.pk, event_type="balance.update", data={"asset": "USDT", "free": "1.5"}
    )
    event = await communicator.receive_json_from(timeout=5)
    assert event["type"] == "balance.update"
    assert event["data"] == {"asset": "USDT", "free": "1.5"}
    assert event["seq"] == hello["seq"] + 1
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_websocket_refuses_anonymous_and_foreign_origins(async_db_cleanup):
    anonymous = WebsocketCommunicator(
        application,
        "/ws/live/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")],
    )
    connected, code = await anonymous.connect()
    assert not connected
    assert code == 4401
    # Tell the application the socket is gone (daphne does this after a close), so its
    # channel-layer receive loop ends instead of being cancelled with the test's event loop.
    await anonymous.disconnect()

    stranger = WebsocketCommunicator(
        application,
        "/ws/live/",
        headers=[(b"origin", b"http://evil.example"), (b"host", b"127.0.0.1")],
    )
    connected, _ = await stranger.connect()
    assert not connected
    await stranger.disconnect()
