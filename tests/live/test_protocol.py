"""The /ws/live/ protocol: authentication, Origin, resume/resync, isolation, market data."""

from __future__ import annotations

from decimal import Decimal

import pytest
import websockets

from exchanges import events
from tests.factories import UserFactory
from tests.live.conftest import filled, make_trader, place_resting_buy, stream_status, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_resume_replays_exactly_the_missed_events(live_app, live_socket):
    user = UserFactory()
    sock = live_socket(user)
    hello = sock.recv()
    sock.close()
    for n in range(3):
        events.publish_now(user_id=user.pk, event_type="balance.update", data={"n": n})
    events.flush()

    again = live_socket(user)
    assert again.recv()["seq"] == hello["seq"] + 3
    again.send({"type": "resume", "since": hello["seq"]})
    replayed = [again.recv() for _ in range(3)]
    assert [(m["seq"], m["data"]["n"]) for m in replayed] == [
        (hello["seq"] + 1, 0),
        (hello["seq"] + 2, 1),
        (hello["seq"] + 3, 2),
    ]
    assert again.drain(0.5) == []  # nothing more, nothing twice


def test_a_gap_that_cannot_be_replayed_asks_for_a_resync(live_app, live_socket):
    user = UserFactory()
    for n in range(events.EVENT_REPLAY_SIZE + 5):
        events.publish_now(user_id=user.pk, event_type="balance.update", data={"n": n})
    events.flush()
    sock = live_socket(user)
    hello = sock.recv()
    sock.send({"type": "resume", "since": hello["seq"] - events.EVENT_REPLAY_SIZE - 3})
    message = sock.recv()
    assert message["type"] == "resync"
    assert message["seq"] == hello["seq"]


def test_a_user_never_receives_another_users_events(sandbox, live_app, run_streams, live_socket):
    alice, alice_connection, _ = make_trader(sandbox)
    bob, _, _ = make_trader(sandbox)
    run_streams()
    wait_for(lambda: stream_status(alice_connection) == "up", 15)
    alice_socket, bob_socket = live_socket(alice), live_socket(bob)
    alice_socket.recv(), bob_socket.recv()

    order, limit = place_resting_buy(alice, alice_connection, sandbox)
    sandbox.set_price("BTCUSDT", limit * Decimal("0.9"))
    alice_socket.wait_for(filled(order))
    alice_socket.wait_for(lambda m: m["type"] == "balance.update")

    leaked = [m for m in bob_socket.drain(1.0) if "seq" in m]
    assert leaked == []


# -- authentication and Origin ------------------------------------------------------------------


def test_a_browser_without_a_session_is_refused(live_app, live_socket):
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        live_socket(None)
    assert refused.value.response.status_code == 403


def test_a_foreign_origin_is_refused_even_with_a_session(live_app, live_socket):
    user = UserFactory()
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        live_socket(user, origin="https://evil.example")
    assert refused.value.response.status_code == 403


def test_a_script_authenticates_with_a_jwt_in_the_first_message(live_app, live_socket):
    from rest_framework_simplejwt.tokens import AccessToken

    user = UserFactory()
    sock = live_socket(None, origin=None)
    sock.send({"type": "auth", "token": str(AccessToken.for_user(user))})
    hello = sock.recv()
    assert hello["type"] == "hello"
    events.publish_now(user_id=user.pk, event_type="balance.update", data={"ok": True})
    assert sock.recv()["data"] == {"ok": True}


@pytest.mark.parametrize("token", ["not-a-jwt", "eyJhbGciOiJIUzI1NiJ9.e30.x"])
def test_a_bad_jwt_is_refused(token, live_app, live_socket):
    sock = live_socket(None, origin=None)
    sock.send({"type": "auth", "token": token})
    assert sock.recv()["type"] == "error"
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        sock.recv()
    assert closed.value.rcvd.code == 4401


def test_a_script_that_does_not_authenticate_is_closed(live_app, live_socket):
    sock = live_socket(None, origin=None)
    sock.send({"type": "resume", "since": 0})
    assert sock.recv()["type"] == "error"
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        sock.recv()
    assert closed.value.rcvd.code == 4401


# -- market data ---------------------------------------------------------------------------------


def test_market_data_is_fanned_out_to_subscribed_pages(live_app, run_streams, live_socket):
    run_streams()
    watcher, other = live_socket(UserFactory()), live_socket(UserFactory())
    watcher.recv(), other.recv()
    watcher.send({"type": "subscribe_market_data", "symbols": ["ETHUSDT"], "market": "spot"})
    assert watcher.recv()["type"] == "subscribed"

    ticker = watcher.wait_for(lambda m: m["type"] == "ticker", timeout=15)
    assert ticker["symbol"] == "ETHUSDT" and "seq" not in ticker
    assert Decimal(ticker["data"]["last"]) > 0
    kline = watcher.wait_for(lambda m: m["type"] == "kline", timeout=15)
    assert kline["data"]["interval"] == "1m"
    assert [m for m in other.drain(0.5) if m["type"] in ("ticker", "kline")] == []

    watcher.send({"type": "unsubscribe_market_data", "symbols": ["ETHUSDT"], "market": "spot"})
    watcher.wait_for(lambda m: m["type"] == "unsubscribed")
    watcher.drain(0.5)
    assert [m for m in watcher.drain(3) if m["type"] == "ticker"] == []
