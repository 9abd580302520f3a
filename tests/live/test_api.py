"""GET /api/streams/status and /api/market/klines, and manage.py streams_status."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.fixtures.processes import BASE_DIR
from tests.live.conftest import make_trader, stream_status, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_stream_status_shows_own_streams_only_and_staff_everything(
    sandbox, run_streams, api_client, live_env
):
    alice, alice_connection, _ = make_trader(sandbox)
    bob, bob_connection, _ = make_trader(sandbox, futures=True)
    run_streams("status-test")
    wait_for(lambda: stream_status(bob_connection, "usdm") == "up", 15)
    wait_for(lambda: stream_status(alice_connection) == "up", 15)

    api_client.force_authenticate(alice)
    body = api_client.get("/api/streams/status").json()
    assert [(r["connection_id"], r["kind"], r["status"], r["held"]) for r in body["streams"]] == [
        (alice_connection.pk, "spot", "up", True)
    ]
    assert "processes" not in body

    bob.is_staff = True
    bob.save()
    api_client.force_authenticate(bob)
    body = api_client.get("/api/streams/status").json()
    rows = {(r["connection_id"], r["kind"]): r for r in body["streams"]}
    assert rows[(bob_connection.pk, "usdm")]["holder"] == "status-test"
    assert rows[(bob_connection.pk, "usdm")]["listen_key"].startswith("…")
    assert (alice_connection.pk, "spot") in rows
    assert "status-test" in body["processes"]

    check = subprocess.run(
        [sys.executable, "manage.py", "streams_status", "--check"],
        cwd=BASE_DIR,
        env=live_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "status-test" in check.stdout


def test_streams_status_check_fails_without_a_run_streams_process(sandbox, live_env):
    make_trader(sandbox)
    check = subprocess.run(
        [sys.executable, "manage.py", "streams_status", "--check"],
        cwd=BASE_DIR,
        env=live_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 1
    assert "no run_streams process holds its lease" in check.stdout


def test_klines_for_the_chart(sandbox, api_client):
    user, _, _ = make_trader(sandbox)
    api_client.force_authenticate(user)
    body = api_client.get("/api/market/klines", {"symbol": "BTCUSDT", "limit": 5}).json()
    assert body["environment"] == "sandbox"
    assert len(body["klines"]) == 5
    first = body["klines"][0]
    assert set(first) == {"open_time", "open", "high", "low", "close", "volume", "close_time"}
    assert isinstance(first["close"], str)

    bad = api_client.get("/api/market/klines", {"symbol": "btc/usdt", "interval": "7m"})
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"symbol", "interval"}


def test_klines_of_another_users_connection_is_not_found(sandbox, api_client):
    _, other_connection, _ = make_trader(sandbox)
    user, _, _ = make_trader(sandbox)
    api_client.force_authenticate(user)
    response = api_client.get(
        "/api/market/klines", {"symbol": "BTCUSDT", "connection": other_connection.pk}
    )
    assert response.status_code == 404
