"""USD-M futures orders: the futures gate, market/limit, reduce-only, hedge mode, algo routing,
leverage, margin type, positions and "close position"."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchanges.models import Order
from exchanges.services.orders import connection_client
from tests.orders.conftest import futures_url, orders_url

pytestmark = pytest.mark.django_db


def fplace(api, connection, **body):
    return api.post(futures_url(connection, "orders"), body, format="json")


def test_futures_refused_when_not_enabled(api, connection, market):
    r = fplace(api, connection, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "futures_disabled"
    assert Order.objects.count() == 0
    assert api.get(futures_url(connection, "positions")).status_code == 409
    r = api.post(futures_url(connection, "leverage"), {"symbol": "BTCUSDT", "leverage": 5},
                 format="json")  # fmt: skip
    assert r.status_code == 409


def test_market_limit_positions_and_close(api, futures_connection, market):
    conn = futures_connection
    r = api.post(futures_url(conn, "leverage"), {"symbol": "BTCUSDT", "leverage": 10},
                 format="json")  # fmt: skip
    assert r.status_code == 200, r.json()
    assert r.json()["leverage"] == 10
    r = api.post(futures_url(conn, "margin-type"),
                 {"symbol": "BTCUSDT", "margin_type": "ISOLATED"}, format="json")  # fmt: skip
    assert r.status_code == 200, r.json()
    assert r.json()["changed"] is True
    again = api.post(futures_url(conn, "margin-type"),
                     {"symbol": "BTCUSDT", "margin_type": "ISOLATED"}, format="json")  # fmt: skip
    assert again.json()["changed"] is False

    r = fplace(api, conn, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    assert r.status_code == 201, r.json()
    assert r.json()["status"] == "FILLED"
    assert r.json()["market"] == "usdm"
    r = fplace(api, conn, symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.01",
               price="62000", time_in_force="GTC")  # fmt: skip
    assert r.status_code == 201, r.json()
    assert r.json()["status"] == "NEW"

    positions = api.get(futures_url(conn, "positions")).json()
    assert positions["hedge_mode"] is False
    [pos] = positions["positions"]
    assert pos["symbol"] == "BTCUSDT" and pos["amount"] == "0.01" and pos["side"] == "LONG"
    assert Decimal(pos["entry_price"]) > 0 and Decimal(pos["mark_price"]) > 0
    assert "unrealized_pnl" in pos

    r = api.post(futures_url(conn, "positions/close"), {"symbol": "BTCUSDT"}, format="json")
    assert r.status_code == 201, r.json()
    close = r.json()
    assert close["side"] == "SELL" and close["reduce_only"] is True
    assert close["quantity"] == "0.01" and close["status"] == "FILLED"
    assert api.get(futures_url(conn, "positions")).json()["positions"] == []
    r = api.post(futures_url(conn, "positions/close"), {"symbol": "BTCUSDT"}, format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_position"


def test_min_notional_unless_reduce_only(api, futures_connection, market):
    r = fplace(api, futures_connection, symbol="BTCUSDT", side="BUY", type="LIMIT",
               quantity="0.001", price="62000")  # fmt: skip
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "filter_failure"
    assert "order value 62 USDT is below the minimum 100 USDT" in err["message"]
    assert "reduce-only" in err["message"]
    assert err["fields"]["quantity"]
    assert Order.objects.count() == 0


def test_algo_orders_are_routed_to_the_algo_endpoint(api, futures_connection, market):
    conn = futures_connection
    fplace(api, conn, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    r = fplace(api, conn, symbol="BTCUSDT", side="SELL", type="STOP_MARKET", quantity="0.01",
               stop_price="62000", reduce_only=True)  # fmt: skip
    assert r.status_code == 201, r.json()
    stop = r.json()
    assert stop["algo_id"] is not None and stop["status"] == "NEW"
    [on_exchange] = market.orders(stop["client_order_id"])
    assert on_exchange["algoId"] == stop["algo_id"]
    r = fplace(api, conn, symbol="BTCUSDT", side="SELL", type="TAKE_PROFIT", quantity="0.01",
               price="68000", stop_price="68000", reduce_only=True)  # fmt: skip
    assert r.status_code == 201, r.json()
    tp = r.json()
    assert tp["algo_id"] is not None
    # Cancel one algo order; the price falls through the stop, which triggers and fills.
    assert api.delete(orders_url(conn, f"/{tp['id']}")).json()["status"] == "CANCELED"
    market.set_price("BTCUSDT", "61000")
    detail = api.get(orders_url(conn, f"/{stop['id']}")).json()
    assert detail["status"] == "FILLED", detail
    assert detail["exchange_order_id"]


def test_hedge_mode_position_side(api, futures_connection, market):
    conn = futures_connection
    connection_client(conn).usdm.set_position_mode(True)
    r = fplace(api, conn, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    assert r.status_code == 400
    assert r.json()["error"]["fields"]["position_side"]
    from exchanges.services import orders as services

    services._ttl_cache.clear()
    r = fplace(api, conn, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01",
               position_side="LONG")  # fmt: skip
    assert r.status_code == 201, r.json()
    assert r.json()["position_side"] == "LONG"
    positions = api.get(futures_url(conn, "positions")).json()
    assert positions["hedge_mode"] is True
    r = api.post(futures_url(conn, "positions/close"), {"symbol": "BTCUSDT"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["fields"]["position_side"]
    r = api.post(futures_url(conn, "positions/close"),
                 {"symbol": "BTCUSDT", "position_side": "LONG"}, format="json")  # fmt: skip
    assert r.status_code == 201, r.json()
    assert r.json()["side"] == "SELL" and r.json()["position_side"] == "LONG"
    assert r.json()["reduce_only"] is False


def test_futures_check_order(api, futures_connection, market):
    r = api.post(futures_url(futures_connection, "orders/test"),
                 {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01",
                  "price": "62000"}, format="json")  # fmt: skip
    assert r.status_code == 200, r.json()
    assert r.json()["ok"] is True and r.json()["exchange_checked"] is True
    assert Order.objects.count() == 0
