"""Independently written clients against the sandbox's USD-M futures: python-binance and ccxt."""

from __future__ import annotations

from decimal import Decimal

import ccxt
from binance.client import Client

from tests.sandbox.test_futures import frozen

D = Decimal
__all__ = ["frozen"]


def test_python_binance_futures_round_trip(frozen):
    sandbox = frozen
    keys = sandbox.create_keys()
    client = Client(keys["apiKey"], keys["secretKey"], ping=False)
    client.FUTURES_URL = f"{sandbox.url}/fapi"
    try:
        assert client.futures_ping() == {}
        info = client.futures_exchange_info()
        assert {s["symbol"] for s in info["symbols"]} == {"BTCUSDT", "ETHUSDT"}
        assert client.futures_change_leverage(symbol="BTCUSDT", leverage=5)["leverage"] == 5
        order = client.futures_create_order(
            symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.004"
        )
        assert order["status"] == "NEW" and order["clientOrderId"].startswith("x-")
        got = client.futures_get_order(symbol="BTCUSDT", orderId=order["orderId"])
        assert got["status"] == "FILLED" and got["avgPrice"] == "65000.00"
        positions = client.futures_position_information(symbol="BTCUSDT")
        assert D(positions[0]["positionAmt"]) == D("0.004")
        # python-binance routes conditional types to /fapi/v1/algoOrder by itself
        stop = client.futures_create_order(
            symbol="BTCUSDT",
            side="SELL",
            type="STOP_MARKET",
            quantity="0.004",
            stopPrice="60000",
            reduceOnly="true",
        )
        assert stop["algoStatus"] == "NEW" and stop["triggerPrice"] == "60000.00"
        assert len(sandbox.orders(stop["clientAlgoId"])) == 1
        client.futures_cancel_algo_order(symbol="BTCUSDT", algoId=stop["algoId"])
        sandbox.set_price("BTCUSDT", "66000")
        client.futures_create_order(
            symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.004", reduceOnly="true"
        )
        trades = client.futures_account_trades(symbol="BTCUSDT")
        assert D(trades[-1]["realizedPnl"]) == 4
        balance = client.futures_account_balance()
        assert balance[0]["asset"] == "USDT"
        assert D(balance[0]["balance"]) == 10000 + 4 - D("0.13") - D("0.132")
        listen_key = client.futures_stream_get_listen_key()
        assert client.futures_stream_get_listen_key() == listen_key
    finally:
        client.close_connection()


def test_ccxt_binanceusdm_round_trip(frozen):
    sandbox = frozen
    keys = sandbox.create_keys()
    exchange = ccxt.binanceusdm(
        {
            "apiKey": keys["apiKey"],
            "secret": keys["secretKey"],
            "options": {"fetchMarkets": {"types": ["linear"]}, "fetchCurrencies": False},
        }
    )
    api = exchange.urls["api"]
    for name in ("fapiPublic", "fapiPrivate"):
        api[name] = f"{sandbox.url}/fapi/v1"
    for version in ("V2", "V3"):
        api[f"fapiPublic{version}"] = f"{sandbox.url}/fapi/{version.lower()}"
        api[f"fapiPrivate{version}"] = f"{sandbox.url}/fapi/{version.lower()}"
    markets = exchange.load_markets()
    assert "BTC/USDT:USDT" in markets
    order = exchange.create_order("ETH/USDT:USDT", "market", "buy", 0.5)
    fetched = exchange.fetch_order(order["id"], "ETH/USDT:USDT")
    assert fetched["status"] == "closed" and fetched["filled"] == 0.5
    limit = exchange.create_order("ETH/USDT:USDT", "limit", "sell", 0.5, 3300)
    assert exchange.fetch_open_orders("ETH/USDT:USDT")[0]["id"] == limit["id"]
    exchange.cancel_order(limit["id"], "ETH/USDT:USDT")
    positions = exchange.fetch_positions(["ETH/USDT:USDT"])
    assert positions[0]["contracts"] == 0.5 and positions[0]["side"] == "long"
    exchange.create_order("ETH/USDT:USDT", "market", "sell", 0.5, params={"reduceOnly": True})
    balance = exchange.fetch_balance()
    assert balance["USDT"]["total"] < 10000  # fees paid, no PnL at a constant price
