"""Independently written Binance clients pointed at the sandbox."""

from __future__ import annotations

from decimal import Decimal

import pytest


def test_python_binance(sandbox, keys):
    from binance.client import Client

    client = Client(keys["apiKey"], keys["secretKey"], ping=False)
    client.API_URL = sandbox.url + "/api"
    client.MARGIN_API_URL = sandbox.url + "/sapi"
    assert client.ping() == {}
    info = client.get_symbol_info("BTCUSDT")
    assert info["baseAsset"] == "BTC"
    order = client.create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.002",
        newClientOrderId="pybinance-1",
    )
    assert order["status"] == "FILLED" and order["fills"]
    fetched = client.get_order(symbol="BTCUSDT", origClientOrderId="pybinance-1")
    assert fetched["orderId"] == order["orderId"] and fetched["executedQty"] == "0.00200000"
    limit = client.order_limit_buy(symbol="ETHUSDT", quantity="0.01", price="1000.00")
    assert limit["status"] == "NEW"
    assert client.cancel_order(symbol="ETHUSDT", orderId=limit["orderId"])["status"] == "CANCELED"
    balance = client.get_asset_balance(asset="BTC")
    assert Decimal(balance["free"]) > Decimal(1)
    perms = client.get_account_api_permissions()
    assert perms["enableSpotAndMarginTrading"] is True and perms["ipRestrict"] is False


def test_python_binance_ed25519(sandbox):
    from binance.client import Client

    keys = sandbox.create_keys(key_type="ED25519")
    client = Client(keys["apiKey"], private_key=keys["privateKey"], ping=False)
    client.API_URL = sandbox.url + "/api"
    account = client.get_account()
    assert account["accountType"] == "SPOT"
    order = client.create_test_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")
    assert order == {}


def test_ccxt(sandbox, keys):
    ccxt = pytest.importorskip("ccxt")
    exchange = ccxt.binance(
        {
            "apiKey": keys["apiKey"],
            "secret": keys["secretKey"],
            "options": {
                "fetchMarkets": {"types": ["spot"]},
                "fetchCurrencies": False,
                "fetchMargins": False,
                "defaultType": "spot",
            },
        }
    )
    for name, url in list(exchange.urls["api"].items()):
        if isinstance(url, str) and url.startswith("https://api.binance.com"):
            exchange.urls["api"][name] = url.replace("https://api.binance.com", sandbox.url)
    try:
        exchange.load_markets()
        assert "BTC/USDT" in exchange.markets
        balance = exchange.fetch_balance()
        assert balance["USDT"]["free"] == 10000.0 and balance["BTC"]["total"] == 1.0
        order = exchange.create_order("ETH/USDT", "market", "buy", 0.05)
        assert order["status"] == "closed" and order["filled"] == 0.05
        fetched = exchange.fetch_order(order["id"], "ETH/USDT")
        assert fetched["id"] == order["id"]
        assert exchange.fetch_balance()["ETH"]["total"] > 10
    finally:
        if hasattr(exchange, "close"):
            exchange.close()


def test_binance_connector(sandbox, keys):
    from binance.spot import Spot

    client = Spot(api_key=keys["apiKey"], api_secret=keys["secretKey"], base_url=sandbox.url)
    assert client.ping() == {}
    order = client.new_order(symbol="BNBUSDT", side="SELL", type="MARKET", quantity="1.5")
    assert order["status"] == "FILLED"
    acct = client.account(omitZeroBalances="true")
    assert {b["asset"]: b["free"] for b in acct["balances"]}["BNB"] == "98.50000000"
    assert client.get_order("BNBUSDT", orderId=order["orderId"])["side"] == "SELL"
