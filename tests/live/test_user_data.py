"""User data end to end: sandbox fill -> run_streams -> database -> Channels -> websocket."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.models import Order
from tests.live.conftest import make_trader, place_resting_buy, stream_status, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def btc_free(message) -> str | None:
    for row in message["data"]["balances"]:
        if row["asset"] == "BTC":
            return str(Decimal(row["free"]).normalize())
    return None


def test_a_fill_on_the_exchange_reaches_the_browser(sandbox, live_app, run_streams, live_socket):
    user, connection, _ = make_trader(sandbox)
    run_streams()
    wait_for(lambda: stream_status(connection) == "up", 15, message="spot stream never came up")
    sock = live_socket(user)
    hello = sock.recv()
    assert hello["type"] == "hello"

    order, limit = place_resting_buy(user, connection, sandbox)
    sandbox.set_price("BTCUSDT", limit * Decimal("0.9"))

    update = sock.wait_for(
        lambda m: m["type"] == "order.update" and m["data"]["status"] == "FILLED"
    )
    assert update["data"]["client_order_id"] == order.client_order_id
    assert update["seq"] > hello["seq"]
    fill = sock.wait_for(lambda m: m["type"] == "fill")
    # 2 BTC + 0.01 bought - the commission taken in BTC.
    expected = str((Decimal("2.01") - Decimal(fill["data"]["commission"])).normalize())
    balance = sock.wait_for(lambda m: m["type"] == "balance.update" and btc_free(m) == expected)
    assert balance["seq"] > hello["seq"]
    order.refresh_from_db()
    assert order.status == "FILLED"
    assert order.fills.count() == 1
    assert Order.objects.get(pk=order.pk).executed_quantity == Decimal("0.01")
