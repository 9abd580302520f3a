"""Streams that die, go silent, expire or lose their process recover without losing an event."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from exchanges.models import StreamState
from tests.live.conftest import (
    fill_of,
    filled,
    make_trader,
    place_resting_buy,
    stream_status,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


def state(connection, kind="spot") -> StreamState:
    return StreamState.objects.get(connection=connection, kind=kind)


def up(connection, kind="spot", timeout=15.0):
    wait_for(lambda: stream_status(connection, kind) == "up", timeout, message=f"{kind} not up")


@pytest.mark.parametrize("kind", ["ws-drop", "ws-silent"])
def test_a_dropped_or_silent_spot_stream_recovers_with_no_lost_event(
    kind, sandbox_clean, live_app, run_streams, live_socket
):
    sandbox = sandbox_clean
    user, connection, _ = make_trader(sandbox)
    run_streams()
    up(connection)
    sock = live_socket(user)
    sock.recv()
    order, limit = place_resting_buy(user, connection, sandbox)
    sock.wait_for(lambda m: m["type"] == "order.update")
    before = state(connection).reconnect_count

    sandbox.fault("/ws-api/v3", kind, hold=30)
    # The fill happens while the stream is down or mute: only the reconciliation can see it.
    sandbox.set_price("BTCUSDT", limit * Decimal("0.9"))

    sock.wait_for(filled(order), timeout=20)
    sock.wait_for(fill_of(order), timeout=10)
    wait_for(lambda: state(connection).reconnect_count > before, 10)
    up(connection)
    order.refresh_from_db()
    assert order.status == "FILLED"
    assert order.fills.count() == 1


def test_listen_key_keepalive_extends_the_key(
    sandbox_clean, live_app, run_streams, celery_beat_worker
):
    sandbox = sandbox_clean
    sandbox.configure(listen_key_ttl=3)
    _, connection, _ = make_trader(sandbox, futures=True)
    run_streams()
    up(connection, "usdm")
    first = state(connection, "usdm")
    # Three lifetimes of the key: without the beat's keepalive it would have expired.
    time.sleep(9)
    now = state(connection, "usdm")
    assert now.status == "up"
    assert now.listen_key_last4 == first.listen_key_last4
    assert now.reconnect_count == first.reconnect_count
    assert now.listen_key_renewed_at > first.listen_key_renewed_at
    assert "listen_key_keepalive" in celery_beat_worker.log_path.read_text()


def test_a_forced_listen_key_expiry_is_recovered_with_no_lost_event(
    sandbox_clean, live_app, run_streams, celery_beat_worker, live_socket
):
    sandbox = sandbox_clean
    user, connection, keys = make_trader(sandbox, futures=True)
    run_streams()
    up(connection, "usdm")
    sock = live_socket(user)
    sock.recv()
    order, limit = place_resting_buy(user, connection, sandbox, market="usdm")
    old_key = state(connection, "usdm").listen_key_last4

    # Close the key behind KLINEO's back: the stream stays connected but receives nothing
    # until the keepalive task gets -1125, creates a new key and run_streams reconnects.
    response = sandbox.http.delete(
        f"{sandbox.url}/fapi/v1/listenKey", headers={"X-MBX-APIKEY": keys["apiKey"]}, timeout=5
    )
    assert response.status_code == 200, response.text
    sandbox.set_price("BTCUSDT", limit * Decimal("0.9"))

    sock.wait_for(filled(order), timeout=20)
    wait_for(lambda: state(connection, "usdm").listen_key_last4 != old_key, 10)
    up(connection, "usdm")
    order.refresh_from_db()
    assert order.status == "FILLED"


def test_killing_a_run_streams_process_hands_its_streams_to_the_other(
    sandbox, live_app, run_streams, live_socket
):
    traders = [make_trader(sandbox, label=f"T{i}") for i in range(4)]
    first, second = run_streams("first"), run_streams("second")
    for _, connection, _ in traders:
        up(connection)
    # Leases split the streams between the two processes.
    wait_for(
        lambda: {state(c).holder for _, c, _ in traders} == {"first", "second"},
        10,
        message="the streams were not shared",
    )
    victim_user, victim_connection, _ = next(t for t in traders if state(t[1]).holder == "first")
    sock = live_socket(victim_user)
    sock.recv()

    first.kill()
    killed_at = time.monotonic()
    wait_for(
        lambda: all(state(c).holder == "second" and state(c).status == "up" for _, c, _ in traders),
        30,
        message=f"no takeover:\n{second.output()}",
    )
    assert time.monotonic() - killed_at < 10  # lease TTL is 2 s in the tests

    order, limit = place_resting_buy(victim_user, victim_connection, sandbox)
    sandbox.set_price("BTCUSDT", limit * Decimal("0.9"))
    sock.wait_for(filled(order), timeout=15)
